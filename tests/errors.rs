//! Every file in `errors/` holds one mistake; its rendered diagnostics are pinned by a
//! snapshot that embeds the input.

use vic::diag::render_all;
use vic::source::analyze;

/// The text `vic check` shows for a model: its errors, or its warnings.
fn diagnostics(file: &str, source: &str) -> String {
    match analyze(file, source.to_string()) {
        Ok(loaded) => loaded.render_warnings(),
        Err(vic::source::SourceError::Model {
            file,
            text,
            diagnostics,
        }) => render_all(&file, &text, &diagnostics),
        Err(other) => other.to_string(),
    }
}

#[test]
fn every_error_file_is_reported() {
    insta::glob!("../errors", "*.vi", |path| {
        let source = std::fs::read_to_string(path).expect("error files are UTF-8");
        let name = path.file_name().expect("a file").to_string_lossy();
        let text = diagnostics(&name, &source);
        assert!(!text.is_empty(), "{name} reports nothing");
        insta::with_settings!({ description => source.clone(), omit_expression => true }, {
            insta::assert_snapshot!(text);
        });
    });
}
