//! The engine's errors on the bus: each [`EngineError`] kind is a named D-Bus error carrying the
//! message (`org.swarmdate.Engine.Error.Trust`, ...), read back as the same kind by the proxy.

use crate::EngineError;

/// The prefix of the engine's D-Bus error names.
pub const ERROR_PREFIX: &str = "org.swarmdate.Engine.Error";

/// An [`EngineError`] as the bus sends it; [`BusError::ZBus`] is a failure of the bus itself.
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.swarmdate.Engine.Error")]
pub enum BusError {
    /// The call did not reach the engine, or its reply did not come back.
    #[zbus(error)]
    ZBus(zbus::Error),
    /// [`EngineError::Trust`].
    Trust(String),
    /// [`EngineError::Spec`].
    Spec(String),
    /// [`EngineError::NotFound`].
    NotFound(String),
    /// [`EngineError::Busy`].
    Busy(String),
    /// [`EngineError::NoSpace`].
    NoSpace(String),
    /// [`EngineError::Io`].
    Io(String),
    /// [`EngineError::Other`].
    Other(String),
}

impl From<EngineError> for BusError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Trust(m) => BusError::Trust(m),
            EngineError::Spec(m) => BusError::Spec(m),
            EngineError::NotFound(m) => BusError::NotFound(m),
            EngineError::Busy(m) => BusError::Busy(m),
            EngineError::NoSpace(m) => BusError::NoSpace(m),
            EngineError::Io(m) => BusError::Io(m),
            EngineError::Other(m) => BusError::Other(m),
        }
    }
}

impl From<anyhow::Error> for BusError {
    fn from(e: anyhow::Error) -> Self {
        EngineError::from(e).into()
    }
}

impl From<BusError> for EngineError {
    fn from(e: BusError) -> Self {
        match e {
            BusError::Trust(m) => EngineError::Trust(m),
            BusError::Spec(m) => EngineError::Spec(m),
            BusError::NotFound(m) => EngineError::NotFound(m),
            BusError::Busy(m) => EngineError::Busy(m),
            BusError::NoSpace(m) => EngineError::NoSpace(m),
            BusError::Io(m) => EngineError::Io(m),
            BusError::Other(m) => EngineError::Other(m),
            // An engine of an older build answers with plain failures: their text is the message.
            BusError::ZBus(zbus::Error::MethodError(_, Some(msg), _)) => EngineError::Other(msg),
            BusError::ZBus(zbus::Error::FDO(f)) => match *f {
                zbus::fdo::Error::Failed(msg) => EngineError::Other(msg),
                other => EngineError::Other(format!("the engine's process: {other}")),
            },
            BusError::ZBus(other) => EngineError::Other(format!("the engine's process: {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::DBusError;

    fn all() -> Vec<EngineError> {
        let m = |k: &str| format!("a {k} failure: with its whole chain");
        vec![
            EngineError::Trust(m("trust")),
            EngineError::Spec(m("spec")),
            EngineError::NotFound(m("not found")),
            EngineError::Busy(m("busy")),
            EngineError::NoSpace(m("no space")),
            EngineError::Io(m("io")),
            EngineError::Other(m("other")),
        ]
    }

    #[test]
    fn each_kind_has_its_own_error_name() {
        let names: Vec<String> = all()
            .into_iter()
            .map(|e| BusError::from(e).name().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "Trust", "Spec", "NotFound", "Busy", "NoSpace", "Io", "Other"
            ]
            .map(|n| format!("{ERROR_PREFIX}.{n}"))
        );
    }

    /// Through a real reply message: the engine's side builds it from the error, the proxy's
    /// side reads it as zbus does for a failed call.
    #[test]
    fn each_kind_comes_back_as_itself_with_its_message() {
        let call = zbus::message::Message::method_call("/org/swarmdate/Engine", "AddJob")
            .unwrap()
            .interface("org.swarmdate.Engine1")
            .unwrap()
            .build(&())
            .unwrap();
        for e in all() {
            let reply = BusError::from(e.clone())
                .create_reply(&call.header())
                .unwrap();
            let zerr = zbus::Error::from(reply);
            assert!(
                matches!(&zerr, zbus::Error::MethodError(n, Some(m), _)
                    if n.as_str().starts_with(ERROR_PREFIX) && m == e.message()),
                "{zerr:?}"
            );
            assert_eq!(EngineError::from(BusError::from(zerr)), e);
        }
    }

    #[test]
    fn a_plain_failure_keeps_its_text() {
        let e = BusError::from(zbus::Error::FDO(Box::new(zbus::fdo::Error::Failed(
            "no job 3".into(),
        ))));
        assert_eq!(EngineError::from(e), EngineError::Other("no job 3".into()));
    }
}
