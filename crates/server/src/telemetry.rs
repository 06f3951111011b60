//! Structured logs with `tracing`: human-readable by default, JSON lines for collectors.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    init_to(format, false);
}

/// For commands whose standard output is their result (`shenfen person export`): logs go to standard error, so
/// `… > file.json` holds only the document.
pub fn init_on_stderr(format: LogFormat) {
    init_to(format, true);
}

fn init_to(format: LogFormat, stderr: bool) {
    let filter = EnvFilter::try_from_env("SHENFEN_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let writer = tracing_subscriber::fmt::writer::BoxMakeWriter::new(move || -> Box<dyn std::io::Write> {
        if stderr { Box::new(std::io::stderr()) } else { Box::new(std::io::stdout()) }
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
