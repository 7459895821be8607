//! Full-batch L-BFGS through argmin.
//!
//! The objective over the flattened parameters (`Vec<f64>`, argmin-math's
//! `vec` backend) is computed by the same sharded engine as minibatch
//! training, on an f64 copy of the model and the data: L-BFGS's curvature
//! pairs need more precision than f32 gives, and f32 models round back at the
//! end. argmin's `LBFGS` with a More–Thuente line search takes the steps; the
//! loop around `Solver::next_iter` is driven here rather than by argmin's
//! `Executor` so that each iteration can be recorded, reported, checkpointed
//! and interrupted like an epoch.

use super::config::LbfgsConfig;
use super::engine::ShardEngine;
use super::history::{EpochRecord, LayerNorms};
use super::progress::Reporter;
use super::run_state::{RowSplit, RunContext, RunState, StopReason, TrainEvent, diverged};
use crate::error::{Error, Result};
use crate::model::{Autoencoder, LossConfig, LossTerms};
use crate::real::Real;
use argmin::core::{
    CostFunction, Gradient, IterState, Problem, Solver, State, TerminationReason, TerminationStatus,
};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use nalgebra::DMatrix;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

/// One evaluation of the objective.
struct Eval {
    param: Vec<f64>,
    terms: LossTerms,
    grad: Vec<f64>,
    norm: f64,
    layers: Vec<LayerNorms>,
}

/// The f64 model, engine and data behind the argmin problem. The last
/// evaluation is cached, because argmin asks for the cost and the gradient
/// of the same point separately.
struct Evaluator<'a> {
    model: Autoencoder<f64>,
    engine: ShardEngine<f64>,
    x: &'a DMatrix<f64>,
    rows: &'a [usize],
    loss: LossConfig,
    last: Option<Eval>,
    /// The crate error behind the last failed evaluation (argmin only sees
    /// its text).
    error: Option<Error>,
    /// Fresh evaluations in the current iteration.
    evals: usize,
}

/// Evaluation budget of one iteration. A healthy More–Thuente search needs
/// one to a few; near the optimum, where objective differences drown in
/// rounding, it can bisect and extrapolate almost indefinitely, so the
/// search is cut off and the last accepted point stands.
const MAX_EVALS_PER_ITERATION: usize = 30;

/// Message of the cut-off, to tell it from real failures.
const STALLED: &str = "line search stalled: objective differences are below rounding";

impl Evaluator<'_> {
    fn eval(&mut self, param: &[f64]) -> Result<&Eval> {
        if self.last.as_ref().is_some_and(|e| e.param == param) {
            return Ok(self.last.as_ref().expect("checked"));
        }
        self.evals += 1;
        let result = (|| {
            self.model.set_params(param).map_err(|e| match e {
                Error::InvalidData(m) => Error::Numerical(m),
                other => other,
            })?;
            let (terms, g, norms) =
                self.engine
                    .loss_and_grad(&self.model, self.x, self.rows, &self.loss)?;
            let layers = norms
                .layers
                .iter()
                .map(|n| LayerNorms {
                    total: n.total,
                    encoder_part: n.encoder_part,
                    decoder_part: n.decoder_part,
                })
                .collect();
            Ok(Eval {
                param: param.to_vec(),
                terms,
                grad: g.as_slice().to_vec(),
                norm: norms.total,
                layers,
            })
        })();
        match result {
            Ok(e) => Ok(self.last.insert(e)),
            Err(e) => Err(e),
        }
    }

    fn argmin_eval(&mut self, param: &[f64]) -> std::result::Result<&Eval, argmin::core::Error> {
        let cached = self.last.as_ref().is_some_and(|e| e.param == param);
        if !cached && self.evals >= MAX_EVALS_PER_ITERATION {
            return Err(argmin::core::Error::msg(STALLED));
        }
        // Record the crate error, hand argmin its text.
        match self.eval(param) {
            Ok(_) => Ok(self.last.as_ref().expect("just evaluated")),
            Err(e) => {
                let msg = e.to_string();
                self.error = Some(e);
                Err(argmin::core::Error::msg(msg))
            }
        }
    }
}

/// The argmin problem: a handle on the shared evaluator.
struct Objective<'a>(Rc<RefCell<Evaluator<'a>>>);

impl CostFunction for Objective<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.0.borrow_mut().argmin_eval(p)?.terms.total)
    }
}

impl Gradient for Objective<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(self.0.borrow_mut().argmin_eval(p)?.grad.clone())
    }
}

type Lbfgs = LBFGS<MoreThuenteLineSearch<Vec<f64>, Vec<f64>, f64>, Vec<f64>, Vec<f64>, f64>;
type LbfgsState = IterState<Vec<f64>, Vec<f64>, (), (), (), f64>;

fn solver_error(e: argmin::core::Error) -> Error {
    Error::Numerical(format!("L-BFGS: {e}"))
}

fn to_model<T: Real>(model: &mut Autoencoder<T>, p: &[f64]) -> Result<()> {
    let v: Vec<T> = p.iter().map(|&x| T::of(x)).collect();
    model.set_params(&v)
}

/// argmin's L-BFGS with a More–Thuente line search, configured by `cfg`.
fn new_solver(cfg: &LbfgsConfig) -> Result<Lbfgs> {
    let linesearch = MoreThuenteLineSearch::new();
    let solver: Lbfgs = LBFGS::new(linesearch, cfg.memory)
        .with_tolerance_grad(cfg.tol_grad)
        .map_err(solver_error)?
        .with_tolerance_cost(cfg.tol_cost)
        .map_err(solver_error)?;
    Ok(solver)
}

/// The crate error of a failed solver call `e` at `epoch`: the evaluation
/// error behind it if one was recorded, and a numerical failure as
/// divergence (`last` the last finite loss).
fn fail(evaluator: &RefCell<Evaluator<'_>>, epoch: usize, last: Option<f64>, e: Error) -> Error {
    match evaluator.borrow_mut().error.take().unwrap_or(e) {
        Error::Numerical(what) => diverged(epoch, 1, what, last),
        other => other,
    }
}

/// Why the solver stopped, converged if it did not say.
fn termination_reason(state: &LbfgsState) -> TerminationReason {
    state
        .get_termination_reason()
        .cloned()
        .unwrap_or(TerminationReason::SolverConverged)
}

/// The solver's first state, at `p0` with `iters` iterations to run; a
/// failure at `epoch` is reported as [`fail`] reports it (`last` the last
/// finite loss).
fn start(
    solver: &mut Lbfgs,
    problem: &mut Problem<Objective<'_>>,
    evaluator: &RefCell<Evaluator<'_>>,
    p0: Vec<f64>,
    iters: u64,
    epoch: usize,
    last: Option<f64>,
) -> Result<LbfgsState> {
    let state: LbfgsState = IterState::new().param(p0).max_iters(iters);
    let mut state = match solver.init(problem, state) {
        Ok((s, _)) => s,
        Err(e) => {
            return Err(fail(evaluator, epoch, last, solver_error(e)));
        }
    };
    state.update();
    Ok(state)
}

/// What one solver iteration leaves: the state with its accepted point,
/// or the reason the run ends there.
enum Advance {
    Point(Box<LbfgsState>, Vec<f64>),
    Stop(TerminationReason),
}

/// One solver iteration from `state` at `epoch`, with a fresh evaluation
/// budget; a failed evaluation is an error (divergence from `last`, the
/// last finite loss, when numerical).
fn advance(
    solver: &mut Lbfgs,
    problem: &mut Problem<Objective<'_>>,
    state: LbfgsState,
    evaluator: &RefCell<Evaluator<'_>>,
    epoch: usize,
    last: Option<f64>,
) -> Result<Advance> {
    evaluator.borrow_mut().evals = 0;
    let state = match solver.next_iter(problem, state) {
        Ok((s, _)) => s,
        // The evaluation budget cut the line search off near the
        // optimum: the last accepted point (already in `st`) stands, as
        // the budget's docs promise, rather than reading as divergence.
        Err(err) if evaluator.borrow().error.is_none() && format!("{err:#}").contains(STALLED) => {
            return Ok(Advance::Stop(TerminationReason::SolverExit(STALLED.into())));
        }
        Err(err) => {
            return Err(fail(evaluator, epoch, last, solver_error(err)));
        }
    };
    if let Some(err) = evaluator.borrow_mut().error.take() {
        // A failed evaluation inside the line search ends the iteration
        // with a solver exit; a non-finite objective is divergence.
        return Err(match err {
            Error::Numerical(what) => diverged(epoch, 1, what, last),
            other => other,
        });
    }
    let Some(param) = state.get_param().cloned() else {
        // The line search found no acceptable step: the last accepted
        // point stands.
        return Ok(Advance::Stop(termination_reason(&state)));
    };
    Ok(Advance::Point(Box::new(state), param))
}

/// The loss terms, gradient norm and layer norms at `param`, the point
/// the solver just accepted (cached, so not recomputed); a numerical
/// failure is divergence at `epoch` from `last`.
fn evaluate_at(
    evaluator: &RefCell<Evaluator<'_>>,
    param: &[f64],
    epoch: usize,
    last: Option<f64>,
) -> Result<(LossTerms, f64, Vec<LayerNorms>)> {
    match evaluator.borrow_mut().eval(param) {
        Ok(r) => Ok((r.terms, r.norm, r.layers.clone())),
        Err(Error::Numerical(what)) => Err(diverged(epoch, 1, what, last)),
        Err(other) => Err(other),
    }
}

/// The history row of iteration `epoch`, an epoch of full-batch training.
fn epoch_record(epoch: usize, terms: LossTerms, norm: f64, layers: Vec<LayerNorms>) -> EpochRecord {
    EpochRecord {
        epoch,
        train: terms,
        val_loss: None,
        val_reconstruction: None,
        learning_rate: None,
        grad_norm: norm,
        layers,
        seconds: 0.0,
        dead_fraction: None,
    }
}

/// What the run reports for the solver's reason to stop.
fn stop_reason(stop: TerminationReason) -> StopReason {
    match stop {
        TerminationReason::MaxItersReached => StopReason::Completed,
        TerminationReason::SolverExit(why) => StopReason::Converged(why),
        other => StopReason::Converged(other.text().to_string()),
    }
}

/// The iterations a run at `st` has done (history rows). A resumed run's
/// epoch comes from a file: checked, not trusted.
fn iterations_done<T: Real>(st: &RunState<T>) -> Result<u64> {
    let done =
        st.epoch.checked_sub(1).ok_or_else(|| {
            Error::InvalidData("cannot resume at epoch 0: epochs count from 1".into())
        })? as u64;
    Ok(done)
}

/// Why a run ends at [`LbfgsConfig::tol_cost_rel`].
const RELATIVE_COST: &str = "relative cost change below tol_cost_rel";

/// One iteration's decrease of the objective from `prev` to `next`,
/// relative as SciPy's L-BFGS-B measures it for its `ftol` test:
/// `(prev − next) / max(|prev|, |next|, 1)`.
fn relative_decrease(prev: f64, next: f64) -> f64 {
    (prev - next) / prev.abs().max(next.abs()).max(1.0)
}

/// The solver's start and evaluator: `model`'s parameters in f64, and an
/// f64 copy of it (L-BFGS's curvature pairs need more precision than f32
/// gives) with an engine of `shard_size`-row shards over rows `rows` of
/// `x64`, the objective `loss`.
fn f64_evaluator<'a, T: Real>(
    model: &Autoencoder<T>,
    x64: &'a DMatrix<f64>,
    rows: &'a [usize],
    shard_size: usize,
    loss: LossConfig,
) -> Result<(Vec<f64>, Rc<RefCell<Evaluator<'a>>>)> {
    let p0: Vec<f64> = model.params_to_vec().iter().map(|v| v.f64()).collect();
    let mut copy = Autoencoder::<f64>::new(model.spec(), 0)?;
    copy.set_params(&p0)?;
    let evaluator = Rc::new(RefCell::new(Evaluator {
        model: copy,
        engine: ShardEngine::new(shard_size)?,
        x: x64,
        rows,
        loss,
        last: None,
        error: None,
        evals: 0,
    }));
    Ok((p0, evaluator))
}

/// Runs L-BFGS from `st` until `cfg.max_iters` iterations in total (history
/// rows) have run or a tolerance is met.
pub(crate) fn run<T: Real>(
    run: &mut RunContext<'_>,
    cfg: &LbfgsConfig,
    st: &mut RunState<T>,
    x: &DMatrix<T>,
    split: &RowSplit,
) -> Result<StopReason> {
    let tc = run.config;
    let done = iterations_done(st)?;
    if done >= cfg.max_iters {
        return Ok(StopReason::Completed);
    }
    let x64: DMatrix<f64> = x.map(|v| v.f64());
    let (p0, evaluator) =
        f64_evaluator(&st.model, &x64, &split.train, tc.shard_size, tc.objective())?;
    let val_engine = ShardEngine::<f64>::new(tc.shard_size)?;
    let mut problem = Problem::new(Objective(evaluator.clone()));
    let mut solver = new_solver(cfg)?;
    let reporter = Reporter::new(tc.progress, cfg.max_iters as usize, 1, done as usize);
    let objective = tc.objective();
    let total = cfg.max_iters as usize;
    let mut state = start(
        &mut solver,
        &mut problem,
        &evaluator,
        p0,
        cfg.max_iters - done,
        st.epoch,
        st.last_finite_loss,
    )?;
    let stop = loop {
        if run.interrupted() {
            return Err(Error::Interrupted { checkpoint: None });
        }
        if let TerminationStatus::Terminated(reason) =
            <Lbfgs as Solver<Objective<'_>, LbfgsState>>::terminate_internal(&mut solver, &state)
        {
            break reason;
        }
        let t0 = Instant::now();
        let e = st.epoch;
        let param = match advance(
            &mut solver,
            &mut problem,
            state,
            &evaluator,
            e,
            st.last_finite_loss,
        )? {
            Advance::Point(next, param) => {
                state = *next;
                param
            }
            Advance::Stop(reason) => break reason,
        };
        state.update();
        let (terms, norm, layers) = evaluate_at(&evaluator, &param, e, st.last_finite_loss)?;
        to_model(&mut st.model, &param)?;
        let flat = cfg.tol_cost_rel > 0.0
            && st
                .last_finite_loss
                .is_some_and(|prev| relative_decrease(prev, terms.total) <= cfg.tol_cost_rel);
        st.last_finite_loss = Some(terms.total);
        let rec = epoch_record(e, terms, norm, layers);
        state.increment_iter();
        reporter.batch(e, total, terms.total);
        (run.on_event)(TrainEvent::Batch {
            epoch: e,
            batch: 1,
            loss: terms.total,
        });
        // Validation runs on the f64 model the solver evaluated, not on the
        // (possibly f32) copy in `st`.
        let validate = |_: &Autoencoder<T>| {
            if split.val.is_empty() {
                return Ok(None);
            }
            let ev = evaluator.borrow();
            val_engine
                .loss(&ev.model, &x64, &split.val, &objective)
                .map(Some)
        };
        if let Some(stop) = st.end_epoch(run, &reporter, rec, t0, total, validate)? {
            return Ok(stop);
        }
        if state.terminated() {
            break termination_reason(&state);
        }
        if flat {
            break TerminationReason::SolverExit(RELATIVE_COST.into());
        }
    };
    Ok(stop_reason(stop))
}
