//! `shenfen bench <scenario>`: the benchmark scenarios named in the issues, one entry each.

use anyhow::bail;

pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
}

pub const SCENARIOS: &[Scenario] = &[];

pub async fn run(name: &str, _args: &[String]) -> anyhow::Result<()> {
    match SCENARIOS.iter().find(|s| s.name == name) {
        Some(_) => unreachable!("every registered scenario has a runner"),
        None => bail!("unknown benchmark scenario {name:?}; known: {}", SCENARIOS.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")),
    }
}
