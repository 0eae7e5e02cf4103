//! The privileged helper's command line comes from the user it serves: whatever it holds, the
//! parser must refuse or give a request whose root, under pkexec, is the system's. The input is
//! NUL-separated arguments; its first byte chooses whether `PKEXEC_UID` is set.

#![no_main]

use libfuzzer_sys::fuzz_target;
use swarmdate_core::packages::{HelperRequest, HelperVerb};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let args: Vec<String> = rest
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let pkexec = (mode & 1 == 1).then_some("1000");
    if let Ok(req) = HelperRequest::parse(args.clone(), pkexec, 1000) {
        assert!(req.store.is_absolute() && req.root.is_absolute());
        assert!(!req.packages.is_empty());
        if pkexec.is_some() {
            assert_eq!(req.root, std::path::Path::new("/"), "{args:?}");
            assert_eq!(req.owner, 1000);
        }
        // A downgrade names every build; an install names none.
        let named = req.packages.iter().all(|p| p.nevra.is_some());
        let unnamed = req.packages.iter().all(|p| p.nevra.is_none());
        assert!(match req.verb {
            HelperVerb::Downgrade => named,
            HelperVerb::Install => unnamed,
        });
        // The arguments the client would write for this request read back to the same request.
        let again: Vec<String> = [req.verb.word().to_owned(), "--store".into()]
            .into_iter()
            .chain([req.store.display().to_string()])
            .chain(req.packages.iter().map(|p| p.arg()))
            .collect();
        let back = HelperRequest::parse(again, pkexec, 1000).expect("a request's own arguments");
        assert_eq!(back.packages, req.packages);
    }
});
