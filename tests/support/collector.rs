//! Processes for scripting the collector's fake source.

use std::sync::Arc;

use prparser::collector::ProcessInfo;

/// A process `worker-<pid>` of user alice, with no services.
pub fn process(pid: u32) -> Arc<ProcessInfo> {
    Arc::new(ProcessInfo {
        pid,
        name: format!("worker-{pid}").into(),
        exe: Some(format!("/usr/bin/worker-{pid}")),
        uid: Some(1000),
        user: Some("alice".into()),
        services: Vec::new(),
    })
}
