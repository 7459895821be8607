//! Thin QR and thin SVD on faer, with the parallelism chosen here rather than
//! by faer's process-wide default.
//!
//! faer's bidiagonalisation (inside its SVD) splits reductions across threads,
//! so its bits depend on the thread count; these wrappers run the
//! factorisations sequentially and keep parallelism for the matrix products
//! around them, where it does not change results.

use crate::error::{Error, Result};
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::householder::{
    apply_block_householder_sequence_on_the_left_in_place_scratch,
    apply_block_householder_sequence_on_the_left_in_place_with_conj,
};
use faer::linalg::qr::no_pivoting::factor::{
    qr_in_place, qr_in_place_scratch, recommended_block_size,
};
use faer::linalg::svd::{ComputeSvdVectors, svd, svd_scratch};
use faer::{Col, Conj, Mat, MatRef, Par};

/// A thin QR factorisation `A = Q R` of an `m x n` matrix with `m >= n`.
pub(crate) struct ThinQr {
    /// `m x n`, orthonormal columns.
    pub q: Mat<f64>,
    /// `n x n`, upper triangular.
    pub r: Mat<f64>,
}

/// Householder QR of `a` (`m >= n`), sequential.
pub(crate) fn thin_qr(a: MatRef<'_, f64>) -> ThinQr {
    let (m, n) = a.shape();
    debug_assert!(m >= n);
    let par = Par::Seq;
    let mut qr = a.to_owned();
    let bs = recommended_block_size::<f64>(m, n);
    let mut coeff = Mat::<f64>::zeros(bs, n);
    let mut mem = MemBuffer::new(qr_in_place_scratch::<f64>(
        m,
        n,
        bs,
        par,
        Default::default(),
    ));
    qr_in_place(
        qr.as_mut(),
        coeff.as_mut(),
        par,
        MemStack::new(&mut mem),
        Default::default(),
    );
    let r = Mat::from_fn(n, n, |i, j| if i <= j { qr[(i, j)] } else { 0.0 });
    let mut q = Mat::<f64>::identity(m, n);
    let mut mem = MemBuffer::new(
        apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(m, bs, n),
    );
    apply_block_householder_sequence_on_the_left_in_place_with_conj(
        qr.as_ref(),
        coeff.as_ref(),
        Conj::No,
        q.as_mut(),
        par,
        MemStack::new(&mut mem),
    );
    ThinQr { q, r }
}

/// Singular values (descending) and right singular vectors of `A = U diag(s) Vᵀ`.
pub(crate) struct ThinSvd {
    pub s: Vec<f64>,
    /// `n x min(m, n)`, present when asked for.
    pub v: Option<Mat<f64>>,
}

/// Thin SVD of `a`, sequential; `want_v` asks for the right singular vectors
/// (nothing here needs the left ones).
pub(crate) fn thin_svd(a: MatRef<'_, f64>, want_v: bool) -> Result<ThinSvd> {
    let (m, n) = a.shape();
    let k = m.min(n);
    let par = Par::Seq;
    let which = |w: bool| {
        if w {
            ComputeSvdVectors::Thin
        } else {
            ComputeSvdVectors::No
        }
    };
    let mut s = Col::<f64>::zeros(k);
    let mut v = want_v.then(|| Mat::<f64>::zeros(n, k));
    let mut mem = MemBuffer::new(svd_scratch::<f64>(
        m,
        n,
        ComputeSvdVectors::No,
        which(want_v),
        par,
        Default::default(),
    ));
    svd(
        a,
        s.as_diagonal_mut(),
        None,
        v.as_mut().map(|v| v.as_mut()),
        par,
        MemStack::new(&mut mem),
        Default::default(),
    )
    .map_err(|e| Error::Numerical(format!("SVD did not converge: {e:?}")))?;
    Ok(ThinSvd {
        s: (0..k).map(|i| s[i]).collect(),
        v,
    })
}
