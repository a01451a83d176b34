//! UI tests of `#[tool]`: one diagnostic per file under `tests/ui/<category>/`, compared with
//! the `.stderr` beside it. Refresh with `TRYBUILD=overwrite cargo test -p mcp-tests --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/attr/*.rs");
    t.compile_fail("ui/sig/*.rs");
    t.compile_fail("ui/types/*.rs");
}
