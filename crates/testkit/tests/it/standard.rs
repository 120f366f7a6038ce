//! The conformance tables in `docs/standard/` stay honest: every test a row names exists under
//! that name (package, module path and function), every row has a 区分 the standard uses and
//! an ID of its own, and the counts in the README are the tables' counts. A renamed or removed
//! test fails here, naming the file, the line and the row.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The header every conformance table has, in this order.
const HEADER: [&str; 5] = ["ID", "要件", "区分", "テスト", "備考"];
/// The two kinds of requirement the standards mark.
const KUBUN: [&str; 2] = ["実装必須", "標準オプション"];
/// The テスト cell of a requirement that is not done.
const NOT_DONE: &str = "—";

/// A test named in a row: `package::module::…::function`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TestRef {
    package: String,
    modules: Vec<String>,
    name: String,
}

impl std::fmt::Display for TestRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.package)?;
        for m in &self.modules {
            write!(f, "::{m}")?;
        }
        write!(f, "::{}", self.name)
    }
}

/// One requirement row of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    line: usize,
    id: String,
    kubun: String,
    test: Option<TestRef>,
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_package(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Reads a テスト cell: `—`, or one test path in backticks.
fn parse_test_cell(cell: &str) -> Result<Option<TestRef>, String> {
    if cell == NOT_DONE {
        return Ok(None);
    }
    let path = cell
        .strip_prefix('`')
        .and_then(|c| c.strip_suffix('`'))
        .filter(|p| !p.contains('`'))
        .ok_or_else(|| {
            format!(
                "the テスト cell must be `{NOT_DONE}` or one test path in backticks, not {cell:?}"
            )
        })?;
    let mut parts: Vec<&str> = path.split("::").collect();
    if parts.len() < 2 {
        return Err(format!(
            "{path:?} is not `package::module::…::test` (no `::` after the package)"
        ));
    }
    let package = parts.remove(0);
    if !is_package(package) {
        return Err(format!("{package:?} in {path:?} is not a package name"));
    }
    if let Some(bad) = parts.iter().find(|p| !is_ident(p)) {
        return Err(format!("{bad:?} in {path:?} is not a Rust identifier"));
    }
    let name = parts.pop().unwrap_or_default().to_string();
    Ok(Some(TestRef {
        package: package.to_string(),
        modules: parts.into_iter().map(str::to_string).collect(),
        name,
    }))
}

/// The cells of a table line (`| a | b |`), or `None` for a line that is not one.
fn cells(line: &str) -> Option<Vec<&str>> {
    let inner = line.trim().strip_prefix('|')?;
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    Some(inner.split('|').map(str::trim).collect())
}

fn is_separator(cells: &[&str]) -> bool {
    cells.iter().all(|c| {
        let c = c.trim_start_matches(':').trim_end_matches(':');
        !c.is_empty() && c.chars().all(|ch| ch == '-')
    })
}

/// Every row of every conformance table in one Markdown document (other tables are left
/// alone). Errors name the line.
fn parse(text: &str) -> Result<Vec<Row>, String> {
    let mut rows: Vec<Row> = Vec::new();
    let mut in_table = false;
    let mut header_line = 0;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let Some(cs) = cells(line) else {
            in_table = false;
            continue;
        };
        if !in_table {
            if cs == HEADER {
                in_table = true;
                header_line = n;
            }
            continue;
        }
        if n == header_line + 1 {
            if !is_separator(&cs) {
                return Err(format!(
                    "line {n}: the header must be followed by a separator line"
                ));
            }
            continue;
        }
        if !line.trim_end().ends_with('|') {
            return Err(format!("line {n}: a row must end with `|`: {line}"));
        }
        if cs.len() != HEADER.len() {
            return Err(format!(
                "line {n}: a row needs {} cells ({}), found {}: {line}",
                HEADER.len(),
                HEADER.join(", "),
                cs.len()
            ));
        }
        let (id, requirement, kubun) = (cs[0], cs[1], cs[2]);
        if id.is_empty() || requirement.is_empty() {
            return Err(format!("line {n}: ID and 要件 must not be empty: {line}"));
        }
        if !KUBUN.contains(&kubun) {
            return Err(format!(
                "line {n}, {id}: 区分 must be one of {KUBUN:?}, not {kubun:?}"
            ));
        }
        let test = parse_test_cell(cs[3]).map_err(|e| format!("line {n}, {id}: {e}"))?;
        if let Some(first) = rows.iter().find(|r| r.id == id) {
            return Err(format!(
                "line {n}: ID {id} is already used on line {}",
                first.line
            ));
        }
        rows.push(Row {
            line: n,
            id: id.to_string(),
            kubun: kubun.to_string(),
            test,
        });
    }
    Ok(rows)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The conformance documents: every `docs/standard/*.md` but the README.
fn documents(root: &Path) -> Vec<PathBuf> {
    let dir = root.join("docs/standard");
    let mut docs: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "md")
                && p.file_name().is_some_and(|f| f != "README.md")
        })
        .collect();
    docs.sort();
    docs
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `name` of the `[package]` section of a Cargo.toml.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if !in_package {
            continue;
        }
        if let Some(rest) = line.strip_prefix("name") {
            let value = rest.trim_start().strip_prefix('=')?.trim();
            return Some(value.trim_matches('"').to_string());
        }
    }
    None
}

/// Package name → crate directory, for every `crates/*/Cargo.toml`.
fn packages(root: &Path) -> HashMap<String, PathBuf> {
    let crates = root.join("crates");
    fs::read_dir(&crates)
        .unwrap_or_else(|e| panic!("{}: {e}", crates.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|dir| {
            let manifest = fs::read_to_string(dir.join("Cargo.toml")).ok()?;
            Some((package_name(&manifest)?, dir))
        })
        .collect()
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `needle` occurs in `text` as a whole: not inside a longer identifier before it,
/// and followed by a character `after` accepts.
fn occurs(text: &str, needle: &str, after: impl Fn(char) -> bool) -> bool {
    text.match_indices(needle).any(|(at, _)| {
        let before_ok = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !is_ident_char(c));
        let after_ok = text[at + needle.len()..].chars().next().is_some_and(&after);
        before_ok && after_ok
    })
}

fn declares_mod(text: &str, module: &str) -> bool {
    occurs(text, &format!("mod {module}"), |c| {
        c == ';' || c == '{' || c.is_whitespace()
    })
}

fn has_fn(text: &str, name: &str) -> bool {
    occurs(text, &format!("fn {name}"), |c| c == '(' || c == '<')
}

fn has_word(text: &str, word: &str) -> bool {
    occurs(text, word, |c| !is_ident_char(c))
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The text between the opening parenthesis at `open` and its match.
fn parenthesised(text: &str, open: usize) -> &str {
    let mut depth = 0usize;
    for (i, c) in text[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    &text[open + 1..]
}

/// Whether `module` is made by a `macro_rules!` macro of the crate that `text` invokes (with
/// `test` among its arguments, when given: `on_both_backends!(…, test, …)` makes
/// `sqlite::test`).
fn macro_makes(crate_dir: &Path, text: &str, module: &str, test: Option<&str>) -> bool {
    let mut files = Vec::new();
    rust_files(&crate_dir.join("src"), &mut files);
    rust_files(&crate_dir.join("tests"), &mut files);
    let sources: Vec<String> = files.iter().map(|f| read(f)).collect();
    let makes_module = |macro_name: &str| {
        let def = format!("macro_rules! {macro_name}");
        sources.iter().any(|src| {
            src.match_indices(&def).any(|(at, _)| {
                let body = &src[at + def.len()..];
                let body = body.find("macro_rules!").map_or(body, |end| &body[..end]);
                declares_mod(body, module)
            })
        })
    };
    text.match_indices("!(").any(|(at, _)| {
        let start = text[..at]
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_ident_char(*c))
            .last()
            .map_or(at, |(i, _)| i);
        let macro_name = &text[start..at];
        !macro_name.is_empty()
            && test.is_none_or(|t| has_word(parenthesised(text, at + 1), t))
            && makes_module(macro_name)
    })
}

/// Follows a module path from a crate root file; the file that holds the test, or why not.
fn walk(crate_dir: &Path, root: &Path, modules: &[String], test: &str) -> Result<PathBuf, String> {
    let mut file = root.to_path_buf();
    let mut dir = root.parent().map_or_else(PathBuf::new, Path::to_path_buf);
    let mut i = 0;
    while let Some(m) = modules.get(i) {
        if !declares_mod(&read(&file), m) {
            break; // maybe made by a macro: checked below
        }
        let flat = dir.join(format!("{m}.rs"));
        let nested = dir.join(m).join("mod.rs");
        let next = if flat.is_file() {
            flat
        } else if nested.is_file() {
            nested
        } else {
            break; // an inline module, or one a macro makes
        };
        file = next;
        dir = dir.join(m);
        i += 1;
    }
    let text = read(&file);
    let rest = &modules[i..];
    if let Some(m) = rest
        .iter()
        .find(|m| !declares_mod(&text, m) && !macro_makes(crate_dir, &text, m, None))
    {
        return Err(format!(
            "{} has no module `{m}` (a file, inline, or made by a macro it invokes)",
            file.display()
        ));
    }
    if !has_fn(&text, test) {
        return Err(format!("no `fn {test}(` in {}", file.display()));
    }
    if let Some(m) = rest
        .iter()
        .find(|m| !declares_mod(&text, m) && !macro_makes(crate_dir, &text, m, Some(test)))
    {
        return Err(format!(
            "{}: the macro that makes module `{m}` is not invoked with `{test}`",
            file.display()
        ));
    }
    Ok(file)
}

/// The file that holds the named test, or why the name does not lead to one. The module
/// path is tried from the crate's `it` test binary (tests/it/main.rs), from a test binary of
/// its own (tests/NAME.rs), and from the library (src/lib.rs, src/main.rs).
fn resolve(packages: &HashMap<String, PathBuf>, t: &TestRef) -> Result<PathBuf, String> {
    let crate_dir = packages.get(&t.package).ok_or_else(|| {
        format!(
            "no crate under crates/ has the package name `{}` in its Cargo.toml",
            t.package
        )
    })?;
    let mut roots: Vec<(PathBuf, &[String])> = vec![
        (crate_dir.join("tests/it/main.rs"), &t.modules[..]),
        (crate_dir.join("src/lib.rs"), &t.modules[..]),
        (crate_dir.join("src/main.rs"), &t.modules[..]),
    ];
    if let Some((binary, rest)) = t.modules.split_first() {
        roots.push((crate_dir.join(format!("tests/{binary}.rs")), rest));
        roots.push((crate_dir.join(format!("tests/{binary}/main.rs")), rest));
    }
    let mut tried = Vec::new();
    for (root, modules) in roots.into_iter().filter(|(r, _)| r.is_file()) {
        match walk(crate_dir, &root, modules, &t.name) {
            Ok(file) => return Ok(file),
            Err(why) => tried.push(why),
        }
    }
    if tried.is_empty() {
        tried.push(format!(
            "{} has no test or library root",
            crate_dir.display()
        ));
    }
    Err(tried.join("; "))
}

fn parsed_documents(root: &Path) -> Vec<(PathBuf, Vec<Row>)> {
    let docs = documents(root);
    assert!(!docs.is_empty(), "no tables in docs/standard/");
    docs.into_iter()
        .map(|doc| {
            let rows = parse(&read(&doc)).unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
            assert!(!rows.is_empty(), "{}: no requirement rows", doc.display());
            (doc, rows)
        })
        .collect()
}

fn display_name(doc: &Path) -> String {
    doc.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn every_row_is_well_formed_with_a_known_kubun_and_a_unique_id() {
    for (doc, rows) in parsed_documents(&workspace_root()) {
        for row in &rows {
            assert!(
                KUBUN.contains(&row.kubun.as_str()),
                "{} line {}: {}",
                doc.display(),
                row.line,
                row.id
            );
        }
    }
}

#[test]
fn every_named_test_exists() {
    let root = workspace_root();
    let packages = packages(&root);
    let mut missing = Vec::new();
    for (doc, rows) in parsed_documents(&root) {
        for row in &rows {
            let Some(t) = &row.test else { continue };
            if let Err(why) = resolve(&packages, t) {
                missing.push(format!(
                    "docs/standard/{} line {}, {}: `{t}` — {why}",
                    display_name(&doc),
                    row.line,
                    row.id
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "tests named in docs/standard/ that do not exist (renamed or removed? fix the row or \
         the test):\n{}",
        missing.join("\n")
    );
}

/// `total | with a test | 実装必須 (with) | 標準オプション (with)` of a table.
fn counts(rows: &[Row]) -> String {
    let of = |kubun: Option<&str>| {
        let rows: Vec<&Row> = rows
            .iter()
            .filter(|r| kubun.is_none_or(|k| r.kubun == k))
            .collect();
        (rows.len(), rows.iter().filter(|r| r.test.is_some()).count())
    };
    let (total, done) = of(None);
    let (must, must_done) = of(Some(KUBUN[0]));
    let (option, option_done) = of(Some(KUBUN[1]));
    format!("{total} | {done} | {must} ({must_done}) | {option} ({option_done})")
}

#[test]
fn counts_in_the_readme_match_the_tables() {
    let root = workspace_root();
    let readme = read(&root.join("docs/standard/README.md"));
    for (doc, rows) in parsed_documents(&root) {
        let name = display_name(&doc);
        let line = readme
            .lines()
            .filter_map(cells)
            .find(|cs| cs.first().is_some_and(|c| c.contains(&format!("({name})"))))
            .unwrap_or_else(|| panic!("docs/standard/README.md has no counts row for {name}"));
        let stated = line[1..].join(" | ");
        assert_eq!(
            stated,
            counts(&rows),
            "docs/standard/README.md: the counts of {name} are out of date"
        );
    }
}

const GOOD: &str = "\
| ID | 要件 | 区分 | テスト | 備考 |
|---|---|---|---|---|
| §1 | 転入 | 実装必須 | `murakumo-server::households::sqlite::a_planned_move_out_is_withdrawn` | |
| §2 | 転居 | 標準オプション | — | issue 18: not yet |
";

#[test]
fn the_parser_reads_a_well_formed_table() {
    let rows = parse(GOOD).expect("parses");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].line, 3);
    assert_eq!(
        rows[0].test.as_ref().map(ToString::to_string).as_deref(),
        Some("murakumo-server::households::sqlite::a_planned_move_out_is_withdrawn")
    );
    assert_eq!(rows[1].test, None);
    // Tables with another header are not conformance tables.
    assert_eq!(parse("| A | B |\n|---|---|\n| 1 | 2 |\n"), Ok(vec![]));
}

#[test]
fn the_parser_rejects_a_malformed_row() {
    let bad = |row: &str| parse(&format!("{GOOD}{row}\n")).expect_err(row);
    assert!(bad("| §3 | 転出 | 実装必須 | — |").contains("line 5: a row needs 5 cells"));
    assert!(bad("| §3 | 転出 | 実装必須 | — | | x |").contains("found 6"));
    assert!(bad("| §3 | 転出 | 実装必須 | — | x").contains("must end with `|`"));
    assert!(bad("|  | 転出 | 実装必須 | — | |").contains("must not be empty"));
    assert!(bad("| §3 | 転出 | 必須 | — | |").contains("§3: 区分 must be one of"));
    assert!(bad("| §3 | 転出 | 実装必須 | TBD | |").contains("one test path in backticks"));
    assert!(bad("| §3 | 転出 | 実装必須 | `a_test` | |").contains("no `::`"));
    assert!(bad("| §3 | 転出 | 実装必須 | `Murakumo::x::y` | |").contains("not a package"));
    assert!(bad("| §3 | 転出 | 実装必須 | `m::x-y::z` | |").contains("not a Rust identifier"));
    assert!(bad("| §3 | 転出 | 実装必須 | `m::a` `m::b` | |").contains("backticks"));
    assert!(bad("| §1 | 転出 | 実装必須 | — | |").contains("ID §1 is already used on line 3"));
    let no_separator = "| ID | 要件 | 区分 | テスト | 備考 |\n| §1 | x | 実装必須 | — | |\n";
    assert!(parse(no_separator).expect_err("").contains("separator"));
}

fn test_ref(path: &str) -> TestRef {
    parse_test_cell(&format!("`{path}`"))
        .expect("a path")
        .expect("not —")
}

#[test]
fn names_resolve_to_the_file_that_holds_the_test() {
    let root = workspace_root();
    let packages = packages(&root);
    let ok = |path: &str, file: &str| {
        let got = resolve(&packages, &test_ref(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(got.ends_with(file), "{path}: {}", got.display());
    };
    // A test of the `it` binary made per backend by a macro.
    ok(
        "murakumo-server::households::sqlite::a_planned_move_out_is_withdrawn",
        "crates/server/tests/it/households.rs",
    );
    // A test of the `it` binary of its own.
    ok(
        "murakumo-testkit::standard::names_resolve_to_the_file_that_holds_the_test",
        "crates/testkit/tests/it/standard.rs",
    );
    // A unit test in an inline `mod tests`, and one in a file of its own.
    ok(
        "murakumo-resident::record::tests::rules",
        "crates/resident/src/record.rs",
    );
    ok(
        "murakumo-seal::tests::a_blank_image_is_refused",
        "crates/seal/src/tests.rs",
    );
}

#[test]
fn a_renamed_or_removed_test_is_reported() {
    let root = workspace_root();
    let packages = packages(&root);
    let err = |path: &str| resolve(&packages, &test_ref(path)).expect_err(path);
    assert!(
        err("murakumo-server::households::sqlite::a_planned_move_out_was_renamed")
            .contains("no `fn a_planned_move_out_was_renamed(`")
    );
    // The backend module exists only for tests the macro is invoked with.
    assert!(
        err("murakumo-server::households::mysql::a_planned_move_out_is_withdrawn")
            .contains("no module `mysql`")
    );
    assert!(
        err("murakumo-server::households::sqlite::family")
            .contains("the macro that makes module `sqlite` is not invoked with `family`")
    );
    assert!(
        err("murakumo-server::no_such_module::sqlite::x").contains("no module `no_such_module`")
    );
    assert!(err("murakumo-nothing::a::b").contains("no crate under crates/"));
    assert!(
        err("murakumo-resident::kana::tests::rules").contains("no `fn rules(`"),
        "a test of another file of the same crate is not found under this path"
    );
}
