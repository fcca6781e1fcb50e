//! `ModelInfo`: the symbol table of a checked model (the [`hir`](super::hir) refers to
//! it by [`SymbolId`]), plus the small vocabularies later stages share with it: builtin
//! functions, activations and the guide's settings.
//!
//! Nothing here depends on pest or prints; the guide stage and the CLI may use
//! [`FlowSpec`], [`GlobalsMode`] and [`Activation`] directly.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use crate::diag::Span;
use crate::dist::Elem;

/// Everything later stages need about a checked model, in declaration order.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub symbols: Vec<Symbol>,
    pub guide: GuideSpec,
    pub(super) by_name: HashMap<String, SymbolId>,
}

impl ModelInfo {
    pub fn lookup(&self, name: &str) -> Option<SymbolId> {
        self.by_name.get(name).copied()
    }

    pub fn symbol(&self, id: SymbolId) -> &Symbol {
        &self.symbols[id.0]
    }

    /// The symbols of one kind of declaration, in declaration order.
    pub fn of_kind(
        &self,
        pred: impl Fn(&SymbolKind) -> bool,
    ) -> impl Iterator<Item = (SymbolId, &Symbol)> {
        self.symbols
            .iter()
            .enumerate()
            .filter(move |(_, s)| pred(&s.kind))
            .map(|(i, s)| (SymbolId(i), s))
    }

    /// The width of one row's data: all data declarations concatenated, which is the
    /// encoder's input.
    pub fn data_width(&self) -> usize {
        self.of_kind(|k| matches!(k, SymbolKind::Data))
            .map(|(_, s)| s.shape.width())
            .sum()
    }

    /// The layer widths of the guide's encoder with these hidden widths: the data in,
    /// a location and a scale for every amortized latent out. `None` when there are no
    /// amortized latents and so no encoder.
    pub fn encoder_widths(&self, hidden: &[usize]) -> Option<Vec<usize>> {
        let amortized = self.amortized_width();
        (amortized > 0).then(|| {
            let mut widths = vec![self.data_width()];
            widths.extend(hidden);
            widths.push(amortized.saturating_mul(2));
            widths
        })
    }

    /// Checks that the model's nets plus a guide encoder with these hidden widths stay
    /// within [`MAX_PARAMS`]. The checker applies it to the `guide` block's encoder; the
    /// CLI applies it to `--encoder-hidden` before building anything.
    pub fn check_param_budget(&self, hidden: &[usize]) -> Result<(), TooManyParams> {
        let nets = self
            .symbols
            .iter()
            .filter_map(|s| match &s.kind {
                SymbolKind::Net(net) => Some(net.param_count()),
                _ => None,
            })
            .fold(0, usize::saturating_add);
        let encoder = self
            .encoder_widths(hidden)
            .map_or(0, |widths| param_count(&widths));
        let count = nets.saturating_add(encoder);
        if count > MAX_PARAMS {
            return Err(TooManyParams { count });
        }
        Ok(())
    }

    /// The total width of the local latents the encoder amortizes (not `free` ones).
    pub fn amortized_width(&self) -> usize {
        self.of_kind(|k| matches!(k, SymbolKind::Latent { free: false, .. }))
            .map(|(_, s)| s.shape.width())
            .sum()
    }
}

/// An index into [`ModelInfo::symbols`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SymbolId(pub usize);

/// A declared name.
#[derive(Debug, Clone)]
pub struct Symbol {
    pub name: String,
    /// The span of the name in its declaration.
    pub span: Span,
    pub kind: SymbolKind,
    /// The declared type; for a `let`, what its expression certainly is.
    pub elem: Elem,
    /// For a net, the shape of its output.
    pub shape: Shape,
}

#[derive(Debug, Clone)]
pub enum SymbolKind {
    Data,
    /// A local latent; `free` when the guide gives it free per-row parameters instead
    /// of the encoder. Its prior is the HIR's `Prior` statement.
    Latent {
        free: bool,
    },
    /// A global latent; its prior is the HIR's `Prior` statement. Braced like `Latent`,
    /// so that `Global { .. }` patterns read the same as `Latent { .. }` ones.
    Global {},
    Param {
        init: ParamInit,
    },
    Net(NetInfo),
    Let,
}

impl SymbolKind {
    /// How a declaration of this kind is written, for messages: `latent`, `data`, ...
    pub fn keyword(&self) -> &'static str {
        match self {
            SymbolKind::Data => "data",
            SymbolKind::Latent { .. } => "latent",
            SymbolKind::Global {} => "global",
            SymbolKind::Param { .. } => "param",
            SymbolKind::Net(_) => "net",
            SymbolKind::Let => "let",
        }
    }
}

/// A scalar, a vector of `n` elements, or a matrix of `rows x cols` (only a `param` or
/// a `global`; its value is stored row-major in one graph row of `rows · cols`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    Scalar,
    Vector(usize),
    Matrix(usize, usize),
}

impl Shape {
    /// The number of elements: 1 for a scalar.
    pub fn width(self) -> usize {
        match self {
            Shape::Scalar => 1,
            Shape::Vector(n) => n,
            Shape::Matrix(r, c) => r * c,
        }
    }

    /// A type of this shape as written: `positive`, `positive[8]`, `real[3, 2]`.
    pub fn written(self, elem: Elem) -> String {
        match self {
            Shape::Scalar => elem.to_string(),
            Shape::Vector(n) => format!("{elem}[{n}]"),
            Shape::Matrix(r, c) => format!("{elem}[{r}, {c}]"),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Scalar => f.write_str("a scalar"),
            Shape::Vector(n) => write!(f, "a vector of size {n}"),
            Shape::Matrix(r, c) => write!(f, "a {r}x{c} matrix"),
        }
    }
}

/// A `param`'s initial value on its constrained scale.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamInit {
    /// `= 0.5`: every element starts at the number.
    All(f64),
    /// `= [1, 2]` or `= [[-1, 0], [1, 0]]`: one number per element, row-major.
    Each(Vec<f64>),
}

impl ParamInit {
    /// The value as written in the model: `0.5`, `[1, 2]`, `[[-1, 0], [1, 0]]`.
    pub fn written(&self, shape: Shape) -> String {
        let list = |xs: &[f64]| {
            let items: Vec<String> = xs.iter().map(f64::to_string).collect();
            format!("[{}]", items.join(", "))
        };
        match (self, shape) {
            (ParamInit::All(v), _) => v.to_string(),
            (ParamInit::Each(values), Shape::Matrix(_, c)) => {
                let rows: Vec<String> = values.chunks(c.max(1)).map(list).collect();
                format!("[{}]", rows.join(", "))
            }
            (ParamInit::Each(values), _) => list(values),
        }
    }
}

/// A net: its layer widths (input first) and hidden activation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetInfo {
    pub widths: Vec<usize>,
    pub activation: Activation,
}

impl NetInfo {
    /// Weights plus biases over all layers.
    pub fn param_count(&self) -> usize {
        param_count(&self.widths)
    }
}

/// Weights plus biases of an mlp with these layer widths (saturating, so an absurd net
/// gives `usize::MAX`, not an overflow).
pub fn param_count(widths: &[usize]) -> usize {
    widths
        .windows(2)
        .map(|w| w[0].saturating_mul(w[1]).saturating_add(w[1]))
        .fold(0, usize::saturating_add)
}

/// The most parameters (f32 values) a model's nets and guide encoder may have together:
/// 2^28, which is 1 GiB of values. Training keeps a gradient and Adam's two moments
/// beside each value (4 GiB in all), and the graph's activations come on top, so a model
/// at the limit still fits the 24 GiB of a developer's machine with room to spare; the
/// largest models this language targets (a VAE on 28x28 images with a few 512-unit
/// layers, about 1.5M parameters) are more than a hundred times below it. Beyond it the
/// allocation itself would abort the process, so the checker refuses it with a message.
pub const MAX_PARAMS: usize = 1 << 28;

/// Nets and an encoder whose parameters exceed [`MAX_PARAMS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the nets and the guide's encoder have {count} parameters in all, more than the limit of {MAX_PARAMS} (2^28, 1 GiB of values)"
)]
pub struct TooManyParams {
    pub count: usize,
}

/// The hidden activation of an mlp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activation {
    Tanh,
    Relu,
    Softplus,
    Sigmoid,
    Elu,
}

impl Activation {
    pub const ALL: [Activation; 5] = [
        Activation::Tanh,
        Activation::Relu,
        Activation::Softplus,
        Activation::Sigmoid,
        Activation::Elu,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Softplus => "softplus",
            Activation::Sigmoid => "sigmoid",
            Activation::Elu => "elu",
        }
    }

    pub fn from_name(name: &str) -> Option<Activation> {
        Activation::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// The builtin functions of the expression language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    Exp,
    Log,
    Sqrt,
    Abs,
    Tanh,
    Sigmoid,
    Softplus,
    Relu,
    Sum,
    Mean,
    Dot,
    Concat,
    /// `one_hot(y, K)`: a class index as a one-hot vector of K elements.
    OneHot,
    /// `logsumexp(v)`: log Σ exp(v_j), a scalar.
    LogSumExp,
    /// `softmax(v)`: exp(v_j) / Σ_k exp(v_k), a vector of probabilities.
    Softmax,
    /// `matvec(W, v)`: the product of a matrix and a vector.
    MatVec,
}

impl Builtin {
    pub const ALL: [Builtin; 16] = [
        Builtin::Exp,
        Builtin::Log,
        Builtin::Sqrt,
        Builtin::Abs,
        Builtin::Tanh,
        Builtin::Sigmoid,
        Builtin::Softplus,
        Builtin::Relu,
        Builtin::Sum,
        Builtin::Mean,
        Builtin::Dot,
        Builtin::Concat,
        Builtin::OneHot,
        Builtin::LogSumExp,
        Builtin::Softmax,
        Builtin::MatVec,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Builtin::Exp => "exp",
            Builtin::Log => "log",
            Builtin::Sqrt => "sqrt",
            Builtin::Abs => "abs",
            Builtin::Tanh => "tanh",
            Builtin::Sigmoid => "sigmoid",
            Builtin::Softplus => "softplus",
            Builtin::Relu => "relu",
            Builtin::Sum => "sum",
            Builtin::Mean => "mean",
            Builtin::Dot => "dot",
            Builtin::Concat => "concat",
            Builtin::OneHot => "one_hot",
            Builtin::LogSumExp => "logsumexp",
            Builtin::Softmax => "softmax",
            Builtin::MatVec => "matvec",
        }
    }

    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Whether the function maps each element on its own (`exp`, ..., `relu`).
    pub fn is_elementwise(self) -> bool {
        !matches!(
            self,
            Builtin::Sum
                | Builtin::Mean
                | Builtin::Dot
                | Builtin::Concat
                | Builtin::OneHot
                | Builtin::LogSumExp
                | Builtin::Softmax
                | Builtin::MatVec
        )
    }
}

/// A normalizing flow after the Gaussian sample of a guide. The options each flow takes
/// are its own variant's fields, so an option a flow cannot use is unrepresentable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FlowSpec {
    #[default]
    None,
    /// `planar(K)`; `planar(K, amortized)` has the encoder emit every step's
    /// parameters per row.
    Planar { steps: usize, amortized: bool },
    /// `radial(K)`, `radial(K, amortized)`.
    Radial { steps: usize, amortized: bool },
    /// `iaf(K)`, `iaf(K, hidden = H)`: H units in each step's MADE (`None`: the
    /// default for the latent width). Amortized IAF reads the encoder's context.
    Iaf { steps: usize, hidden: Option<usize> },
}

/// The flow kinds that take a number of steps.
pub const FLOW_KINDS: [&str; 3] = ["planar", "radial", "iaf"];

/// The most steps a flow may have.
pub const MAX_FLOW_STEPS: usize = 1000;

/// The widest MADE hidden layer `iaf(K, hidden = H)` may ask for.
pub const MAX_FLOW_HIDDEN: usize = 10_000;

/// One option after a flow's step count: `amortized` or `hidden = H`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowOption {
    Amortized,
    Hidden(usize),
}

impl FlowOption {
    /// The option named `name` with the value after its `=`, if any.
    pub fn new(name: &str, value: Option<usize>) -> Result<FlowOption, SettingError> {
        match (name, value) {
            ("amortized", None) => Ok(FlowOption::Amortized),
            ("hidden", Some(h)) if (1..=MAX_FLOW_HIDDEN).contains(&h) => Ok(FlowOption::Hidden(h)),
            ("hidden", Some(h)) => Err(SettingError::FlowHidden { hidden: h }),
            _ => Err(SettingError::FlowOption {
                text: match value {
                    Some(v) => format!("{name} = {v}"),
                    None => name.to_string(),
                },
            }),
        }
    }

    /// `amortized`, `hidden=64` or `hidden = 64`.
    fn parse(text: &str) -> Result<FlowOption, SettingError> {
        let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        match text.split_once('=') {
            None => FlowOption::new(&text, None),
            Some((name, value)) => match value.parse() {
                Ok(v) => FlowOption::new(name, Some(v)),
                Err(_) => Err(SettingError::FlowOption { text }),
            },
        }
    }
}

impl FlowSpec {
    /// A flow from its name, number of steps and options, as in `planar(8, amortized)`
    /// or `--flow planar:8:amortized`.
    pub fn new(kind: &str, steps: usize, options: &[FlowOption]) -> Result<FlowSpec, SettingError> {
        if !(1..=MAX_FLOW_STEPS).contains(&steps) {
            return Err(SettingError::Steps { steps });
        }
        let mut amortized = false;
        let mut hidden = None;
        for &option in options {
            match (kind, option) {
                ("planar" | "radial", FlowOption::Amortized) => amortized = true,
                ("iaf", FlowOption::Hidden(h)) => hidden = Some(h),
                ("iaf", FlowOption::Amortized) => {
                    return Err(SettingError::FlowTakes {
                        kind: kind.to_string(),
                        option: "amortized (IAF already reads a context from the encoder)",
                    });
                }
                ("planar" | "radial", FlowOption::Hidden(_)) => {
                    return Err(SettingError::FlowTakes {
                        kind: kind.to_string(),
                        option: "hidden (only IAF has a hidden layer)",
                    });
                }
                _ => {}
            }
        }
        match kind {
            "planar" => Ok(FlowSpec::Planar { steps, amortized }),
            "radial" => Ok(FlowSpec::Radial { steps, amortized }),
            "iaf" => Ok(FlowSpec::Iaf { steps, hidden }),
            _ => Err(SettingError::Flow {
                name: kind.to_string(),
            }),
        }
    }

    /// The same flow with parameters shared by all rows.
    pub fn shared(self) -> FlowSpec {
        match self {
            FlowSpec::Planar { steps, .. } => FlowSpec::Planar {
                steps,
                amortized: false,
            },
            FlowSpec::Radial { steps, .. } => FlowSpec::Radial {
                steps,
                amortized: false,
            },
            other => other,
        }
    }

    /// Whether each row's flow parameters come from the encoder.
    pub fn amortized(self) -> bool {
        matches!(
            self,
            FlowSpec::Planar {
                amortized: true,
                ..
            } | FlowSpec::Radial {
                amortized: true,
                ..
            }
        )
    }
}

impl fmt::Display for FlowSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, steps, option) = match *self {
            FlowSpec::None => return f.write_str("none"),
            FlowSpec::Planar { steps, amortized } => {
                ("planar", steps, amortized.then(|| "amortized".to_string()))
            }
            FlowSpec::Radial { steps, amortized } => {
                ("radial", steps, amortized.then(|| "amortized".to_string()))
            }
            FlowSpec::Iaf { steps, hidden } => {
                ("iaf", steps, hidden.map(|h| format!("hidden = {h}")))
            }
        };
        match option {
            Some(option) => write!(f, "{kind}({steps}, {option})"),
            None => write!(f, "{kind}({steps})"),
        }
    }
}

/// Parses `none`, `planar:8`, `radial:4:amortized` or `iaf:2:hidden=64` (the
/// command-line form); `planar(8, amortized)` (the `.vi` form) is accepted too.
impl FromStr for FlowSpec {
    type Err = SettingError;

    fn from_str(text: &str) -> Result<FlowSpec, SettingError> {
        let text = text.trim();
        if text == "none" {
            return Ok(FlowSpec::None);
        }
        let syntax = || SettingError::FlowSyntax {
            text: text.to_string(),
        };
        let (kind, rest): (&str, Vec<&str>) = match text.strip_suffix(')') {
            Some(call) => {
                let (kind, args) = call.split_once('(').ok_or_else(syntax)?;
                (kind.trim(), args.split(',').collect())
            }
            None => {
                let (kind, args) = text.split_once(':').ok_or_else(syntax)?;
                (kind, args.split(':').collect())
            }
        };
        if !FLOW_KINDS.contains(&kind) {
            return Err(SettingError::Flow {
                name: kind.to_string(),
            });
        }
        let (steps, options) = rest.split_first().ok_or_else(syntax)?;
        let steps = steps.trim().parse::<usize>().map_err(|_| syntax())?;
        let options = options
            .iter()
            .map(|o| FlowOption::parse(o))
            .collect::<Result<Vec<_>, _>>()?;
        FlowSpec::new(kind, steps, &options)
    }
}

/// The guide of the global latents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GlobalsMode {
    /// A diagonal Gaussian in unconstrained space (ADVI).
    #[default]
    MeanField,
    /// A full-rank Gaussian with a Cholesky factor.
    Full,
}

impl GlobalsMode {
    pub fn name(self) -> &'static str {
        match self {
            GlobalsMode::MeanField => "meanfield",
            GlobalsMode::Full => "full",
        }
    }
}

impl FromStr for GlobalsMode {
    type Err = SettingError;

    fn from_str(text: &str) -> Result<GlobalsMode, SettingError> {
        match text.trim() {
            "meanfield" => Ok(GlobalsMode::MeanField),
            "full" => Ok(GlobalsMode::Full),
            other => Err(SettingError::Globals {
                name: other.to_string(),
            }),
        }
    }
}

/// A guide setting that does not parse (from the command line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("unknown flow `{name}`: expected `none`, `planar`, `radial` or `iaf`")]
    Flow { name: String },
    #[error("cannot read the flow `{text}`: write it like `planar:8` or `none`")]
    FlowSyntax { text: String },
    #[error("a flow needs between 1 and {MAX_FLOW_STEPS} steps, not {steps}")]
    Steps { steps: usize },
    #[error("unknown flow option `{text}`: expected `amortized` or `hidden = H`")]
    FlowOption { text: String },
    #[error("`{kind}` does not take the option {option}")]
    FlowTakes { kind: String, option: &'static str },
    #[error("an IAF hidden layer needs between 1 and {MAX_FLOW_HIDDEN} units, not {hidden}")]
    FlowHidden { hidden: usize },
    #[error("unknown globals mode `{name}`: expected `meanfield` or `full`")]
    Globals { name: String },
    #[error("unknown gradient estimator `{name}`: expected `naive`, `stl` or `dreg`")]
    Gradient { name: String },
    #[error("cannot read the objective `{text}`: expected `elbo` or `iwae:K`")]
    Objective { text: String },
    #[error(
        "the importance-weighted bound needs between 2 and {MAX_IWAE_SAMPLES} samples, not {samples}"
    )]
    IwaeSamples { samples: usize },
}

/// The gradient estimator of an objective. All three give the same value; they differ
/// in which parts of the guide's gradient they keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Gradient {
    /// The reparameterized gradient of the bound as written.
    #[default]
    Naive,
    /// The ELBO's path derivative (Roeder et al. 2017): log q with the guide's
    /// parameters stopped, which drops the score term whose expectation is zero.
    Stl,
    /// The importance-weighted bound's doubly-reparameterized gradient (Tucker et al.
    /// 2019): the encoder gets Σ_k w̃_k² ∂log w_k/∂z_k ∂z_k/∂φ, the model Σ_k w̃_k ∇log w_k.
    Dreg,
}

impl Gradient {
    pub fn name(self) -> &'static str {
        match self {
            Gradient::Naive => "naive",
            Gradient::Stl => "stl",
            Gradient::Dreg => "dreg",
        }
    }
}

impl FromStr for Gradient {
    type Err = SettingError;

    fn from_str(text: &str) -> Result<Gradient, SettingError> {
        [Gradient::Naive, Gradient::Stl, Gradient::Dreg]
            .into_iter()
            .find(|g| g.name() == text.trim())
            .ok_or_else(|| SettingError::Gradient {
                name: text.to_string(),
            })
    }
}

/// The most importance samples per row a training objective may take: each is a
/// whole copy of the batch in the graph.
pub const MAX_IWAE_SAMPLES: usize = 1000;

/// The bound training maximizes (SPEC section 8: `objective = iwae(K)`,
/// `--objective iwae:K`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ObjectiveSpec {
    /// The evidence lower bound.
    #[default]
    Elbo,
    /// The importance-weighted bound with K samples per row (Burda et al. 2016).
    Iwae(usize),
}

impl ObjectiveSpec {
    /// The importance-weighted bound with `samples` samples per row: K = 1 is the ELBO,
    /// so at least 2.
    pub fn iwae(samples: usize) -> Result<ObjectiveSpec, SettingError> {
        if !(2..=MAX_IWAE_SAMPLES).contains(&samples) {
            return Err(SettingError::IwaeSamples { samples });
        }
        Ok(ObjectiveSpec::Iwae(samples))
    }

    /// The estimator used when none is asked for: the doubly-reparameterized gradient
    /// for the importance-weighted bound, whose naive encoder gradient loses its signal
    /// as K grows (Rainforth et al. 2018); the plain reparameterized gradient for the
    /// ELBO (sticking the landing measured better only on the VAE, with one seed:
    /// `docs/language.md`, section 9).
    ///
    /// DReG needs the guide's density at a fixed sample; where the guide has none (a
    /// flow, full-rank globals: [`GuideSpec::has_path_density`]) the default is the
    /// naive estimator, so no default combination is refused.
    pub fn default_gradient(self, has_path_density: bool) -> Gradient {
        match self {
            ObjectiveSpec::Iwae(_) if has_path_density => Gradient::Dreg,
            ObjectiveSpec::Elbo | ObjectiveSpec::Iwae(_) => Gradient::Naive,
        }
    }
}

impl fmt::Display for ObjectiveSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectiveSpec::Elbo => f.write_str("elbo"),
            ObjectiveSpec::Iwae(k) => write!(f, "iwae({k})"),
        }
    }
}

/// Parses `elbo` or `iwae:K` (the command-line form); `iwae(K)` is accepted too.
impl FromStr for ObjectiveSpec {
    type Err = SettingError;

    fn from_str(text: &str) -> Result<ObjectiveSpec, SettingError> {
        let text = text.trim();
        if text == "elbo" {
            return Ok(ObjectiveSpec::Elbo);
        }
        let syntax = || SettingError::Objective {
            text: text.to_string(),
        };
        let (kind, samples) = text
            .split_once(':')
            .or_else(|| text.strip_suffix(')').and_then(|t| t.split_once('(')))
            .ok_or_else(syntax)?;
        if kind != "iwae" {
            return Err(syntax());
        }
        ObjectiveSpec::iwae(samples.parse::<usize>().map_err(|_| syntax())?)
    }
}

/// The guide that will be built, resolved from the `guide` block and the defaults of
/// SPEC section 3. Its fields are public so command-line options can override them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuideSpec {
    /// Hidden widths of the encoder; its input is the data width and its output a
    /// location and a scale for every amortized latent.
    pub encoder_hidden: Vec<usize>,
    pub encoder_activation: Activation,
    /// The flow after the amortized locals' sample (or the globals', when there are no
    /// amortized locals and `global_flow` is not given).
    pub flow: FlowSpec,
    /// The flow named for the globals explicitly.
    pub global_flow: FlowSpec,
    pub globals: GlobalsMode,
    /// The local latents with free per-row parameters instead of the encoder.
    pub free: Vec<SymbolId>,
    /// The bound training maximizes.
    pub objective: ObjectiveSpec,
    /// The gradient estimator; `None` is the objective's default.
    pub gradient: Option<Gradient>,
}

impl GuideSpec {
    /// Whether every group of this guide has a density that can be evaluated at a fixed
    /// sample (what sticking the landing and DReG need): no flow and mean-field globals.
    pub fn has_path_density(&self) -> bool {
        self.flow == FlowSpec::None
            && self.global_flow == FlowSpec::None
            && self.globals == GlobalsMode::MeanField
    }

    /// The estimator used when none is asked for, given the guide.
    pub fn default_gradient(&self) -> Gradient {
        self.objective.default_gradient(self.has_path_density())
    }

    /// The default encoder's hidden widths: one layer of 128 units, or twice the input
    /// width if that is smaller.
    pub fn default_hidden(input_width: usize) -> Vec<usize> {
        vec![128.min(2 * input_width.max(1))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_gradient_is_one_the_guide_can_use() {
        let mut spec = GuideSpec {
            encoder_hidden: vec![16],
            encoder_activation: Activation::Relu,
            flow: FlowSpec::None,
            global_flow: FlowSpec::None,
            globals: GlobalsMode::MeanField,
            free: Vec::new(),
            objective: ObjectiveSpec::Iwae(5),
            gradient: None,
        };
        assert_eq!(spec.default_gradient(), Gradient::Dreg);
        spec.flow = FlowSpec::Iaf {
            steps: 2,
            hidden: None,
        };
        assert_eq!(spec.default_gradient(), Gradient::Naive);
        spec.flow = FlowSpec::None;
        spec.globals = GlobalsMode::Full;
        assert_eq!(spec.default_gradient(), Gradient::Naive);
        spec.objective = ObjectiveSpec::Elbo;
        spec.globals = GlobalsMode::MeanField;
        assert_eq!(spec.default_gradient(), Gradient::Naive);
    }

    #[test]
    fn flows_parse_from_the_command_line_form() {
        let planar = FlowSpec::Planar {
            steps: 8,
            amortized: false,
        };
        assert_eq!("planar:8".parse(), Ok(planar));
        assert_eq!(
            "radial(4)".parse(),
            Ok(FlowSpec::Radial {
                steps: 4,
                amortized: false
            })
        );
        // Options, in both forms, and every flow's text parses back to itself.
        let amortized = FlowSpec::Planar {
            steps: 4,
            amortized: true,
        };
        let wide = FlowSpec::Iaf {
            steps: 2,
            hidden: Some(64),
        };
        assert_eq!("planar:4:amortized".parse(), Ok(amortized));
        assert_eq!("planar(4, amortized)".parse(), Ok(amortized));
        assert_eq!("iaf:2:hidden=64".parse(), Ok(wide));
        assert_eq!(wide.to_string(), "iaf(2, hidden = 64)");
        for flow in [planar, amortized, wide, FlowSpec::None] {
            assert_eq!(flow.to_string().parse(), Ok(flow));
        }
        for (bad, message) in [
            ("iaf:2:amortized", "does not take the option amortized"),
            ("radial:2:hidden=8", "does not take the option hidden"),
            ("iaf:2:hidden=0", "between 1 and 10000 units, not 0"),
            ("planar:2:wide", "unknown flow option `wide`"),
            ("iaf:2:hidden=x", "unknown flow option `hidden=x`"),
        ] {
            let e = bad.parse::<FlowSpec>().expect_err(bad).to_string();
            assert!(e.contains(message), "{bad}: {e}");
        }
        assert_eq!("none".parse(), Ok(FlowSpec::None));
        assert_eq!(
            "planer:8".parse::<FlowSpec>().map_err(|e| e.to_string()),
            Err("unknown flow `planer`: expected `none`, `planar`, `radial` or `iaf`".into())
        );
        assert!("planar:0".parse::<FlowSpec>().is_err());
        assert!("planar".parse::<FlowSpec>().is_err());
        assert_eq!("full".parse(), Ok(GlobalsMode::Full));
    }

    #[test]
    fn net_parameter_counts_weights_and_biases() {
        let net = NetInfo {
            widths: vec![8, 128, 64],
            activation: Activation::Tanh,
        };
        assert_eq!(net.param_count(), 8 * 128 + 128 + 128 * 64 + 64);
        assert_eq!(GuideSpec::default_hidden(64), vec![128]);
        assert_eq!(GuideSpec::default_hidden(2), vec![4]);
    }
}
