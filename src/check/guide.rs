//! The `guide { ... }` block: known settings with well-formed values, `free` only on
//! local latents, each setting at most once; resolved with the defaults of SPEC section 3
//! into a [`GuideSpec`].

use std::collections::HashMap;

use super::info::ObjectiveSpec;
use super::info::{FLOW_KINDS, FlowOption, MAX_FLOW_STEPS};
use super::{Activation, Checker, FlowSpec, GlobalsMode, GuideSpec, SettingError, SymbolKind};
use crate::diag::{Diagnostic, Span, suggest};
use crate::syntax::ast::{GuideBlock, GuideEntry, GuideValue, Ident, Mlp};

const SETTINGS: [&str; 6] = [
    "encoder",
    "flow",
    "global_flow",
    "globals",
    "objective",
    "gradient",
];
const MODES: [&str; 2] = ["free", "amortized"];

impl Checker {
    pub(super) fn guide_spec(&mut self, block: Option<&GuideBlock>) -> GuideSpec {
        let input = self.width_of(|k| matches!(k, SymbolKind::Data));
        let mut spec = GuideSpec {
            encoder_hidden: GuideSpec::default_hidden(input),
            encoder_activation: Activation::Tanh,
            flow: FlowSpec::None,
            global_flow: FlowSpec::None,
            globals: GlobalsMode::MeanField,
            free: Vec::new(),
            objective: ObjectiveSpec::Elbo,
            gradient: None,
        };
        let Some(block) = block else { return spec };
        let mut seen: HashMap<String, Span> = HashMap::new();
        let mut unique = Vec::new();
        for entry in &block.entries {
            let (key, span) = match entry {
                GuideEntry::Setting { key, span, .. }
                | GuideEntry::Local {
                    name: key, span, ..
                } => (key, *span),
            };
            if let Some(&first) = seen.get(&key.name) {
                self.error(
                    Diagnostic::error(span, format!("`{}` is set twice in the guide", key.name))
                        .with_label("set again here")
                        .with_note(first, "first set here"),
                );
                continue;
            }
            seen.insert(key.name.clone(), span);
            unique.push(entry);
        }
        // Locals first: which latents are free decides the encoder's output width.
        for entry in &unique {
            if let GuideEntry::Local { name, mode, .. } = entry {
                self.local(&mut spec, name, mode);
            }
        }
        for entry in &unique {
            if let GuideEntry::Setting { key, value, .. } = entry {
                self.setting(&mut spec, key, value);
            }
        }
        spec
    }

    fn setting(&mut self, spec: &mut GuideSpec, key: &Ident, value: &GuideValue) {
        match key.name.as_str() {
            "encoder" => match value {
                GuideValue::Mlp(mlp) => self.encoder(spec, mlp),
                other => self.error(
                    Diagnostic::error(other.span(), "the encoder must be an mlp")
                        .with_label("not an mlp")
                        .with_hint("write it like `encoder = mlp(_ -> 256 -> _, relu)`"),
                ),
            },
            "flow" | "global_flow" => {
                let Some(flow) = self.flow(value) else { return };
                let amortized_locals =
                    self.width_of(|k| matches!(k, SymbolKind::Latent { free: false, .. })) > 0;
                if flow.amortized() && (key.name == "global_flow" || !amortized_locals) {
                    self.error(
                        Diagnostic::error(
                            value.span(),
                            "an amortized flow takes its parameters per row from the encoder, which only amortized local latents have",
                        )
                        .with_label("amortized")
                        .with_hint(format!(
                            "drop `amortized`: `{}` shares one set of parameters",
                            flow.shared()
                        )),
                    );
                    return;
                }
                match key.name.as_str() {
                    "flow" => spec.flow = flow,
                    _ => spec.global_flow = flow,
                }
            }
            "globals" => match value {
                GuideValue::Name(name) if name.name == "meanfield" => {
                    spec.globals = GlobalsMode::MeanField
                }
                GuideValue::Name(name) if name.name == "full" => spec.globals = GlobalsMode::Full,
                other => self.error(
                    Diagnostic::error(other.span(), "`globals` must be `meanfield` or `full`")
                        .with_label("unknown mode"),
                ),
            },
            "objective" => {
                if let Some(objective) = self.objective(value) {
                    spec.objective = objective;
                }
            }
            "gradient" => match value {
                GuideValue::Name(name) => match name.name.parse() {
                    Ok(gradient) => spec.gradient = Some(gradient),
                    Err(e) => self.error(
                        Diagnostic::error(name.span, format!("{e}"))
                            .with_label("unknown estimator"),
                    ),
                },
                other => self.error(
                    Diagnostic::error(other.span(), "`gradient` must be `naive`, `stl` or `dreg`")
                        .with_label("not an estimator"),
                ),
            },
            other => {
                let mut d = Diagnostic::error(key.span, format!("unknown guide setting `{other}`"))
                    .with_label("not a setting");
                d = match suggest(other, SETTINGS) {
                    Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                    None => d.with_hint("the settings are `encoder`, `flow`, `global_flow`, `globals`, `objective` and `gradient`, and `NAME: free` for a local latent"),
                };
                self.error(d);
            }
        }
    }

    /// `elbo` or `iwae(K)`.
    fn objective(&mut self, value: &GuideValue) -> Option<ObjectiveSpec> {
        match value {
            GuideValue::Name(name) if name.name == "elbo" => Some(ObjectiveSpec::Elbo),
            GuideValue::Call { name, options, .. }
                if name.name == "iwae" && !options.is_empty() =>
            {
                self.error(
                    Diagnostic::error(options[0].span, "`iwae(K)` takes no options")
                        .with_label("not an option")
                        .with_hint("write it like `objective = iwae(5)`"),
                );
                None
            }
            GuideValue::Call { name, arg, .. } if name.name == "iwae" => {
                match ObjectiveSpec::iwae(arg.value) {
                    Ok(objective) => Some(objective),
                    Err(e) => {
                        self.error(
                            Diagnostic::error(arg.span, e.to_string())
                                .with_label(format!("{} samples", arg.value)),
                        );
                        None
                    }
                }
            }
            other => {
                self.error(
                    Diagnostic::error(other.span(), "the objective must be `elbo` or `iwae(K)`")
                        .with_label("not an objective")
                        .with_hint("write it like `objective = iwae(5)`"),
                );
                None
            }
        }
    }

    fn flow(&mut self, value: &GuideValue) -> Option<FlowSpec> {
        let (kind, steps, options) = match value {
            GuideValue::Name(name) if name.name == "none" => return Some(FlowSpec::None),
            GuideValue::Name(name) if FLOW_KINDS.contains(&name.name.as_str()) => {
                self.error(
                    Diagnostic::error(
                        name.span,
                        format!("`{}` needs a number of steps", name.name),
                    )
                    .with_label("no step count")
                    .with_hint(format!("write it like `{}(8)`", name.name)),
                );
                return None;
            }
            GuideValue::Name(name) => (name, None, &[][..]),
            GuideValue::Call {
                name, arg, options, ..
            } => (name, Some(arg), &options[..]),
            GuideValue::Mlp(mlp) => {
                self.error(
                    Diagnostic::error(
                        mlp.span,
                        "a flow must be `none`, `planar(K)`, `radial(K)` or `iaf(K)`",
                    )
                    .with_label("not a flow"),
                );
                return None;
            }
        };
        let Some(steps) = steps.filter(|_| FLOW_KINDS.contains(&kind.name.as_str())) else {
            let mut d = Diagnostic::error(kind.span, format!("unknown flow `{}`", kind.name))
                .with_label("not a flow");
            d = match suggest(&kind.name, FLOW_KINDS.into_iter().chain(["none"])) {
                Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                None => d.with_hint("the flows are `none`, `planar(K)`, `radial(K)` and `iaf(K)`"),
            };
            self.error(d);
            return None;
        };
        if FlowSpec::new(&kind.name, steps.value, &[]).is_err() {
            self.error(
                Diagnostic::error(
                    steps.span,
                    format!("a flow needs between 1 and {MAX_FLOW_STEPS} steps"),
                )
                .with_label(format!("{} steps", steps.value)),
            );
            return None;
        }
        let mut parsed = Vec::new();
        for option in options {
            let value = option.value.as_ref().map(|v| v.value);
            let checked = FlowOption::new(&option.name.name, value)
                .and_then(|o| FlowSpec::new(&kind.name, steps.value, &[o]).map(|_| o));
            match checked {
                Ok(o) => parsed.push(o),
                Err(e) => {
                    let label = match e {
                        SettingError::FlowHidden { .. } => "out of range",
                        _ => "not an option of this flow",
                    };
                    self.error(
                        Diagnostic::error(option.span, e.to_string())
                            .with_label(label)
                            .with_hint(
                                "planar and radial take `amortized`, iaf takes `hidden = H`",
                            ),
                    );
                    return None;
                }
            }
        }
        FlowSpec::new(&kind.name, steps.value, &parsed).ok()
    }

    /// `mlp(_ -> H1 -> ... -> _, act)`: the ends may be `_` or the widths the guide needs.
    fn encoder(&mut self, spec: &mut GuideSpec, mlp: &Mlp) {
        let input = self.width_of(|k| matches!(k, SymbolKind::Data));
        let output = 2 * self.width_of(|k| matches!(k, SymbolKind::Latent { free: false, .. }));
        if mlp.widths.len() < 2 {
            self.error(
                Diagnostic::error(mlp.span, "the encoder needs an input and an output width")
                    .with_hint("write it like `mlp(_ -> 256 -> _, relu)`"),
            );
            return;
        }
        let last = mlp.widths.len() - 1;
        let mut hidden = Vec::new();
        for (i, width) in mlp.widths.iter().enumerate() {
            let (expected, what) = match i {
                0 => (input, "input (the total width of the data)"),
                i if i == last => (
                    output,
                    "output (a location and a scale per amortized latent)",
                ),
                _ => {
                    match width.value {
                        Some(value) => hidden.push(self.size(value, width.span, "a width")),
                        None => self.error(
                            Diagnostic::error(
                                width.span,
                                "the encoder's hidden widths must be numbers",
                            )
                            .with_label("`_` is only for the input and output widths"),
                        ),
                    }
                    continue;
                }
            };
            if let Some(value) = width.value
                && value != expected
            {
                self.error(
                    Diagnostic::error(
                        width.span,
                        format!("the encoder's {what} has width {expected}, not {value}"),
                    )
                    .with_label(format!("expected {expected}"))
                    .with_hint("write `_` to let the guide fill it in"),
                );
            }
        }
        if let Some(activation) = self.activation(mlp) {
            spec.encoder_activation = activation;
        }
        spec.encoder_hidden = hidden;
    }

    fn local(&mut self, spec: &mut GuideSpec, name: &Ident, mode: &Ident) {
        let free = match mode.name.as_str() {
            "free" => true,
            "amortized" => false,
            other => {
                let mut d = Diagnostic::error(mode.span, format!("unknown guide mode `{other}`"))
                    .with_label("not a mode");
                d = match suggest(other, MODES) {
                    Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                    None => d.with_hint("a local latent is `free` or `amortized`"),
                };
                self.error(d);
                return;
            }
        };
        let Some(&id) = self.by_name.get(&name.name) else {
            let locals: Vec<&str> = self
                .symbols
                .iter()
                .filter(|s| matches!(s.kind, SymbolKind::Latent { .. }))
                .map(|s| s.name.as_str())
                .collect();
            let mut d = Diagnostic::error(
                name.span,
                format!(
                    "the guide names `{}`, which is not a latent of the model",
                    name.name
                ),
            )
            .with_label("unknown latent");
            if let Some(s) = suggest(&name.name, locals) {
                d = d.with_hint(format!("did you mean `{s}`?"));
            }
            self.error(d);
            return;
        };
        let symbol = &mut self.symbols[id.0];
        match &mut symbol.kind {
            SymbolKind::Latent { free: flag, .. } => {
                *flag = free;
                if free {
                    spec.free.push(id);
                }
            }
            other => {
                let kind = other.keyword();
                let hint = if kind == "global" {
                    "a global latent always has its own parameters; only a `latent` can be `free`"
                } else {
                    "only a local `latent` can be `free` or `amortized`"
                };
                self.error(
                    Diagnostic::error(
                        name.span,
                        format!("`{}` is a {kind}, not a local latent", name.name),
                    )
                    .with_label(format!("a {kind}"))
                    .with_hint(hint),
                );
            }
        }
    }

    /// The total width of the symbols of some kind.
    fn width_of(&self, kind: impl Fn(&SymbolKind) -> bool) -> usize {
        self.symbols
            .iter()
            .filter(|s| kind(&s.kind))
            .map(|s| s.shape.width())
            .sum()
    }
}
