//! The raw command line: clap's derive structs, exactly as the user typed them.
//!
//! Closed choices are `ValueEnum`s, so clap itself lists and refuses their values.
//! Defaults come from the library's option types (`FitOptions::default()`) or from
//! [`super::config`]'s constants; nothing here validates beyond parsing, and nothing here
//! reaches the library: [`super::config`] turns these into validated options.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::check::{Activation, FlowSpec, GlobalsMode, Gradient, ObjectiveSpec, SettingError};
use crate::infer::train::{DEFAULT_BATCH, FitOptions, Optimizer};
use crate::objective::KlMode;

use super::config::{
    DEFAULT_CMDSTAN_DRAWS, DEFAULT_DRAWS, DEFAULT_ENCODE_DRAWS, DEFAULT_IWAE, DEFAULT_PLOT_DRAWS,
    DEFAULT_PREDICT_DRAWS,
};

#[derive(Debug, Parser)]
#[command(
    name = "vic",
    version,
    about = "A probabilistic-programming language with automatic amortized variational inference"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and check a model, and print a summary of it and of its guide.
    Check {
        /// The `.vi` model file.
        model: PathBuf,
    },
    /// Print the computation graph the model lowers to (SPEC section 7).
    Graph(GraphArgs),
    /// Fit a model to data by maximizing the ELBO.
    Fit(FitArgs),
    /// Evaluate a fitted model on data: ELBO and importance-weighted log p(x) per row.
    Eval(EvalArgs),
    /// Draw from the fitted generative model.
    Sample(SampleArgs),
    /// The guide's mean and sd of every local latent, per data row.
    Encode(EncodeArgs),
    /// The posterior predictive mean (and class probabilities) of the outputs, per row.
    Predict(PredictArgs),
    /// Print a fit file's figures and posterior summary again.
    Summary(SummaryArgs),
    /// Write guide draws of the globals, params and global lets as CmdStan CSV.
    Draws(DrawsArgs),
    /// Draw a fit's ELBO trace and its globals' posterior densities (PNG or SVG).
    Plot(PlotArgs),
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// A fit file written by `vic fit --out`.
    pub fit: PathBuf,
    /// The picture to write: `.png` or `.svg`.
    #[arg(long)]
    pub out: PathBuf,
    /// Guide draws behind each density.
    #[arg(long, default_value_t = DEFAULT_PLOT_DRAWS)]
    pub draws: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// A fit file written by `vic fit --out`.
    pub fit: PathBuf,
    /// End stdout with one JSON object of the results.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DrawsArgs {
    /// A fit file written by `vic fit --out`.
    pub fit: PathBuf,
    /// The number of draws.
    #[arg(short = 'n', default_value_t = DEFAULT_CMDSTAN_DRAWS)]
    pub n: usize,
    /// Write the CSV to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// A fit file written by `vic fit --out`.
    pub fit: PathBuf,
    /// The rows to encode (CSV with every data declaration; `-` for stdin).
    #[arg(long)]
    pub data: PathBuf,
    /// Guide draws per row where a latent's mean and sd are estimated (a transform or a
    /// flow after the Gaussian).
    #[arg(long, default_value_t = DEFAULT_ENCODE_DRAWS)]
    pub draws: usize,
    /// Write the CSV to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A fit file written by `vic fit --out`.
    pub fit: PathBuf,
    /// The rows whose outputs to predict (CSV with the covariates; `-` for stdin).
    #[arg(long)]
    pub data: PathBuf,
    /// The data declarations to predict, comma-separated (default: every likelihood
    /// target).
    #[arg(long, value_delimiter = ',')]
    pub outputs: Option<Vec<String>>,
    /// Posterior predictive draws per row behind each mean.
    #[arg(long, default_value_t = DEFAULT_PREDICT_DRAWS)]
    pub draws: u64,
    /// Write the CSV to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The `.vi` model file.
    pub model: PathBuf,
    /// Include the automatic guide and the ELBO.
    #[arg(long)]
    pub guide: bool,
    /// Print Graphviz `dot` instead of text.
    #[arg(long)]
    pub dot: bool,
    #[command(flatten)]
    pub guide_options: GuideArgs,
}

#[derive(Debug, Args)]
pub struct FitArgs {
    /// The `.vi` model file.
    pub model: PathBuf,
    /// The training data (CSV).
    #[arg(long)]
    pub data: PathBuf,
    /// Held-out data (CSV) to report the test ELBO on.
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Write the fitted model and guide to this JSON file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Exactly this many passes over the data (default: until the ELBO converges).
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long, help = format!("Rows per minibatch (default {DEFAULT_BATCH}, or all rows if fewer)"))]
    pub batch: Option<usize>,
    /// Adam's step size.
    #[arg(long, default_value_t = FitOptions::default().lr)]
    pub lr: f32,
    /// Monte Carlo samples per row.
    #[arg(long, default_value_t = FitOptions::default().samples)]
    pub samples: usize,
    #[arg(long, default_value_t = FitOptions::default().seed)]
    pub seed: u64,
    /// The step cap when training until convergence.
    #[arg(long, default_value_t = FitOptions::default().max_steps)]
    pub max_steps: u64,
    /// `analytic` uses the closed-form Gaussian KL where prior and guide allow it.
    #[arg(long, value_enum, default_value_t = KlArg::Sampled)]
    pub kl: KlArg,
    #[command(flatten)]
    pub guide_options: GuideArgs,
    /// `auto`: deterministic ADVI (L-BFGS on fixed draws) where the guide has no
    /// amortized locals and `--epochs` is not given, else Adam.
    #[arg(long, value_enum, default_value_t = OptimizerArg::Auto)]
    pub optimizer: OptimizerArg,
    /// `lr`: also report the linear-response covariance of the globals (DADVI).
    #[arg(long, value_enum, default_value_t = CovarianceArg::MeanField)]
    pub covariance: CovarianceArg,
    /// End stdout with one JSON object of the results.
    #[arg(long)]
    pub json: bool,
    /// Threads per training step, 1 or 2 (default: 2 when the step is big enough to
    /// gain and two cores are available)
    #[arg(long)]
    pub threads: Option<usize>,
    /// Continue training from this fit file's parameters (same model and guide
    /// options); the new file's trace continues the old one's.
    #[arg(long)]
    pub resume: Option<PathBuf>,
}

/// `--optimizer`; `lbfgs` is another name for `dadvi`, the optimizer it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizerArg {
    Auto,
    Adam,
    #[value(alias = "lbfgs")]
    Dadvi,
}

impl From<OptimizerArg> for Optimizer {
    fn from(arg: OptimizerArg) -> Optimizer {
        match arg {
            OptimizerArg::Auto => Optimizer::Auto,
            OptimizerArg::Adam => Optimizer::Adam,
            OptimizerArg::Dadvi => Optimizer::Dadvi,
        }
    }
}

/// `--covariance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CovarianceArg {
    MeanField,
    Lr,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A fit file written by `vic fit --out`.
    pub fit: PathBuf,
    /// The data (CSV).
    #[arg(long)]
    pub data: PathBuf,
    /// Importance samples for the log p(x) estimate; 0 skips it.
    #[arg(long, default_value_t = DEFAULT_IWAE)]
    pub iwae: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// End stdout with one JSON object of the results.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// A fit file written by `vic fit --out`.
    pub fit: PathBuf,
    /// The number of draws (streamed: any number runs in bounded memory; 0 prints the
    /// header only).
    #[arg(short = 'n', default_value_t = DEFAULT_DRAWS)]
    pub n: u64,
    /// Write the draws to this CSV file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Draw a square `bool`/`unit` vector's draws as a PNG image grid instead of CSV
    /// (with `--data`: each row's original, then its draws).
    #[arg(long, conflicts_with = "out")]
    pub png: Option<PathBuf>,
    #[command(flatten)]
    pub rows: RowsArgs,
}

/// Data rows that draws are conditioned on (`sample`, `predict`).
#[derive(Debug, Clone, Args)]
pub struct RowsArgs {
    /// Rows (CSV, `-` for stdin) whose covariates the draws are conditioned on; `-n`
    /// draws are made per row.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The data declarations to draw, comma-separated (default: every likelihood
    /// target); every other data declaration is read from `--data`.
    #[arg(long, value_delimiter = ',', requires = "data")]
    pub outputs: Option<Vec<String>>,
}

/// Guide settings that override the model's `guide { ... }` block (SPEC section 3).
#[derive(Debug, Clone, Args)]
pub struct GuideArgs {
    /// The flow after the amortized locals' sample: `none`, `planar:K`, `radial:K`,
    /// `iaf:K`; options after a colon: `planar:K:amortized`, `iaf:K:hidden=H`.
    #[arg(long, value_parser = parse_flow)]
    pub flow: Option<FlowSpec>,
    /// The flow after the globals' sample.
    #[arg(long, value_parser = parse_flow)]
    pub global_flow: Option<FlowSpec>,
    /// The globals' guide.
    #[arg(long, value_enum)]
    pub globals: Option<GlobalsArg>,
    /// The encoder's hidden widths, comma-separated (e.g. `256,128`).
    #[arg(long, value_delimiter = ',')]
    pub encoder_hidden: Option<Vec<usize>>,
    /// The encoder's hidden activation.
    #[arg(long, value_enum)]
    pub encoder_activation: Option<ActivationArg>,
    /// The bound training maximizes: `elbo` or `iwae:K` (K importance samples per row).
    #[arg(long, value_parser = parse_objective)]
    pub objective: Option<ObjectiveSpec>,
    /// The gradient estimator (default: `dreg` for `iwae:K`, `naive` for the ELBO).
    #[arg(long, value_enum)]
    pub gradient: Option<GradientArg>,
}

/// `--objective`, parsed by the library like `--flow`.
fn parse_objective(text: &str) -> Result<ObjectiveSpec, SettingError> {
    text.parse()
}

/// `--gradient`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GradientArg {
    /// The reparameterized gradient of the bound as written.
    Naive,
    /// Sticking the landing: the ELBO's path derivative (Roeder et al. 2017).
    Stl,
    /// The importance-weighted bound's doubly-reparameterized gradient (Tucker et al. 2019).
    Dreg,
}

impl From<GradientArg> for Gradient {
    fn from(g: GradientArg) -> Gradient {
        match g {
            GradientArg::Naive => Gradient::Naive,
            GradientArg::Stl => Gradient::Stl,
            GradientArg::Dreg => Gradient::Dreg,
        }
    }
}

/// A flow is a kind and a step count (`planar:4`), so not a closed list of values; the
/// library's parser names what is wrong.
fn parse_flow(text: &str) -> Result<FlowSpec, SettingError> {
    text.parse()
}

/// `--kl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KlArg {
    Sampled,
    Analytic,
}

impl From<KlArg> for KlMode {
    fn from(kl: KlArg) -> KlMode {
        match kl {
            KlArg::Sampled => KlMode::Sampled,
            KlArg::Analytic => KlMode::Analytic,
        }
    }
}

/// `--globals`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GlobalsArg {
    /// A diagonal Gaussian in unconstrained space (ADVI).
    Meanfield,
    /// A full-rank Gaussian with a Cholesky factor.
    Full,
}

impl From<GlobalsArg> for GlobalsMode {
    fn from(globals: GlobalsArg) -> GlobalsMode {
        match globals {
            GlobalsArg::Meanfield => GlobalsMode::MeanField,
            GlobalsArg::Full => GlobalsMode::Full,
        }
    }
}

/// `--encoder-activation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ActivationArg {
    Tanh,
    Relu,
    Softplus,
    Sigmoid,
    Elu,
}

impl From<ActivationArg> for Activation {
    fn from(activation: ActivationArg) -> Activation {
        match activation {
            ActivationArg::Tanh => Activation::Tanh,
            ActivationArg::Relu => Activation::Relu,
            ActivationArg::Softplus => Activation::Softplus,
            ActivationArg::Sigmoid => Activation::Sigmoid,
            ActivationArg::Elu => Activation::Elu,
        }
    }
}
