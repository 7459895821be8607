//! Reports: plotters charts and tera HTML pages built from study DataFrames.
