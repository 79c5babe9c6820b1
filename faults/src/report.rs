//! The fault table: printed, and written into `docs/faults.md` between
//! its markers.

use std::path::Path;

use anyhow::Context;

use crate::scenarios::{Outcome, Sizes};

pub const START: &str = "<!-- fault-table:start -->";
pub const END: &str = "<!-- fault-table:end -->";

/// The table in Markdown, headed by when and at what size it ran.
pub fn table(outcomes: &[Outcome], sizes: &Sizes) -> String {
    let mut out = format!(
        "Last run: {} — {} entities per scenario, {} projector kills, backlog {} events, seed {}.\n\n\
         | fault | injected by | outcome | result | time |\n|---|---|---|---|---|\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        sizes.entities,
        sizes.kills,
        sizes.backlog,
        sizes.seed
    );
    for o in outcomes {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} s |\n",
            cell(&o.fault),
            cell(&o.injection),
            if o.passed { "passed" } else { "**failed**" },
            cell(&o.result),
            o.seconds
        ));
    }
    out
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Replaces the table between the markers of `path`.
pub fn write(path: &Path, table: &str) -> anyhow::Result<()> {
    let doc =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (Some(start), Some(end)) = (doc.find(START), doc.find(END)) else {
        anyhow::bail!("{} has no {START} … {END} markers", path.display());
    };
    anyhow::ensure!(
        start < end,
        "{}: the markers are out of order",
        path.display()
    );
    let updated = format!("{}{START}\n{table}{}", &doc[..start], &doc[end..]);
    std::fs::write(path, updated).with_context(|| format!("writing {}", path.display()))
}
