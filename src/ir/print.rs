//! Stable text and Graphviz renderings of a graph (SPEC section 7).
//!
//! The text lists the parameters with their shapes first, then one node per line in
//! topological order: id, operation, operands, shape, label and the `.vi` line it came
//! from. It depends only on the graph and the source, so snapshot tests can pin it.

use std::fmt::Write;

use crate::diag::line_col;

use super::{Graph, Init, Node, Op, Rows, Shape};

fn shape_text(shape: Shape) -> String {
    match shape.rows {
        Rows::Batch => format!("[B, {}]", shape.cols),
        Rows::Fixed(r) => format!("[{r}, {}]", shape.cols),
    }
}

fn init_text(init: Init) -> String {
    match init {
        Init::Const(v) => format!("const({v})"),
        Init::Values(_) => "values".to_string(),
        Init::Uniform { bound } => format!("uniform(±{bound})"),
        Init::Normal { std } => format!("normal(0, {std})"),
    }
}

/// The operation of a node as the printer names it, leaves with their names.
fn op_text(graph: &Graph, node: &Node) -> String {
    match node.op {
        Op::Param(id) => format!("param {}", graph.param_info(id).name),
        Op::Input(id) => {
            let input = graph.input_info(id);
            let grad = if input.differentiable {
                " (differentiable)"
            } else {
                ""
            };
            format!("input {}{grad}", input.name)
        }
        Op::Noise(id) => format!("noise {}", graph.noise_info(id).name),
        Op::Const(id) => {
            let c = graph.const_info(id);
            if c.values.len() <= 4 {
                let vals: Vec<String> = c.values.iter().map(|v| format!("{v}")).collect();
                format!("const {}", vals.join(" "))
            } else {
                format!("const ({} values)", c.values.len())
            }
        }
        Op::MatMul { ta, tb } => match (ta, tb) {
            (false, false) => "matmul".to_string(),
            (true, false) => "matmul aᵀ·b".to_string(),
            (false, true) => "matmul a·bᵀ".to_string(),
            (true, true) => "matmul aᵀ·bᵀ".to_string(),
        },
        Op::Unary(u) => u.name().to_string(),
        Op::Binary(b) => b.name().to_string(),
        Op::SumCols => "sum_cols".to_string(),
        Op::SumRows => "sum_rows".to_string(),
        Op::SliceCols { start, end } => format!("slice_cols {start}..{end}"),
        Op::ConcatCols => "concat_cols".to_string(),
        Op::GatherRows => "gather_rows".to_string(),
        Op::SelectBlock { width } => format!("select_block {width}"),
        Op::MatVec { rows, cols } => format!("matvec {rows}x{cols}"),
        Op::OneHot { classes } => format!("one_hot {classes}"),
        Op::LogSumExp => "logsumexp".to_string(),
        Op::Softmax => "softmax".to_string(),
        Op::LogDensity(family) => format!(
            "log_density {}({})",
            family.surface_name(),
            family.param_names().join(", ")
        ),
        Op::KlNormal => "kl_normal".to_string(),
        Op::StopGradient => "stop_gradient".to_string(),
        Op::GroupLogMeanExp { groups } => format!("group_log_mean_exp {groups}"),
        Op::BlockSum { blocks } => format!("block_sum {blocks}"),
    }
}

/// The graph as stable text; with `source`, each node names the `.vi` line it came from.
pub fn render_text(graph: &Graph, source: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "params ({} tensors, {} scalars)",
        graph.params().len(),
        graph.param_count()
    );
    for (i, p) in graph.params().iter().enumerate() {
        let _ = writeln!(
            out,
            "  p{i:<4} {:<28} {:<12} {}",
            p.name,
            shape_text(Shape::fixed(p.rows, p.cols)),
            init_text(p.init)
        );
    }
    let _ = writeln!(out, "nodes ({})", graph.len());
    for (i, node) in graph.nodes().iter().enumerate() {
        let operands: Vec<String> = node.inputs.iter().map(|x| format!("%{}", x.0)).collect();
        let mut text = op_text(graph, node);
        if !operands.is_empty() {
            text.push(' ');
            text.push_str(&operands.join(", "));
        }
        let mut line = format!("  %{i:<4} {text:<44} {:<10}", shape_text(node.shape));
        if let (Some(src), Some(span)) = (source, node.origin) {
            let _ = write!(line, " line {:<3}", line_col(src, span.start).0);
        } else {
            line.push_str(&" ".repeat(9));
        }
        if let Some(label) = node.label.as_ref().filter(|_| !node.inputs.is_empty()) {
            let _ = write!(line, " {label}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The graph in Graphviz `dot` syntax.
pub fn render_dot(graph: &Graph) -> String {
    let mut out = String::from("digraph vic {\n  rankdir=TB;\n  node [fontname=\"monospace\"];\n");
    for (i, node) in graph.nodes().iter().enumerate() {
        let shape = match node.op {
            Op::Param(_) => "box",
            Op::Input(_) | Op::Noise(_) | Op::Const(_) => "ellipse",
            _ => "plaintext",
        };
        let mut label = op_text(graph, node);
        if let (Some(l), false) = (&node.label, node.inputs.is_empty()) {
            let _ = write!(label, "\\n{l}");
        }
        let _ = writeln!(
            out,
            "  n{i} [shape={shape}, label=\"%{i} {}\\n{}\"];",
            label.replace('"', "'"),
            shape_text(node.shape)
        );
        for x in &node.inputs {
            let _ = writeln!(out, "  n{} -> n{i};", x.0);
        }
    }
    out.push_str("}\n");
    out
}
