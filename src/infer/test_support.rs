//! Unit-test support for `infer`: a model's ELBO graph and a dataset from inline text,
//! the way `vic fit` builds them (data through the reader, the model's own guide).

use std::path::Path;

use super::data::{self, Dataset};
use super::fit::column_specs;
use crate::objective::{self, ElboGraph};
use crate::source::analyze;

/// The ELBO graph of `model` and `csv` read as its data (written under a temporary
/// directory named after `name` and the process).
pub(crate) fn elbo_and_data(name: &str, model: &str, csv: &str) -> (ElboGraph, Dataset) {
    let dir = std::env::temp_dir().join(format!("vic-unit-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("internal: a temporary directory");
    let path = dir.join("data.csv");
    std::fs::write(&path, csv).expect("internal: the data file is written");
    let loaded = analyze("m.vi", model.to_string()).expect("internal: the model checks");
    let data = data::load(Path::new(&path), &column_specs(&loaded)).expect("internal: data loads");
    let elbo = objective::build(
        &loaded.model,
        &loaded.info,
        &objective::options_for(&loaded.info, data.rows),
    )
    .expect("internal: the guide builds");
    (elbo, data)
}
