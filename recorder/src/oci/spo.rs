//! Security Profiles Operator artifacts (`spoc push`) carry a `SeccompProfile` custom
//! resource in YAML; runtimes want its `spec` as plain runtime-spec JSON.

use serde_json::{Map, Value};

/// The `spec` fields that are runtime-spec `LinuxSeccomp` fields; the operator's own
/// (`disabled`, `baseProfileName`) have no meaning outside the cluster.
const RUNTIME_SPEC_FIELDS: &[&str] = &[
    "defaultAction",
    "defaultErrnoRet",
    "architectures",
    "flags",
    "listenerPath",
    "listenerMetadata",
    "syscalls",
];

/// The runtime-spec profile in a `SeccompProfile` resource (YAML or JSON), as pretty JSON.
pub(crate) fn to_runtime_spec(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let resource: Value = serde_norway::from_slice(bytes)
        .map_err(|e| format!("it is neither a profile nor YAML: {e}"))?;
    let kind = resource["kind"].as_str().unwrap_or_default();
    if kind != "SeccompProfile" {
        let what = if kind.is_empty() {
            "no kind".to_string()
        } else {
            format!("a {kind}")
        };
        return Err(format!(
            "it holds {what}, not a seccomp profile or a SeccompProfile resource"
        ));
    }
    let Some(spec) = resource["spec"].as_object() else {
        return Err("the SeccompProfile has no spec".to_string());
    };
    if let Some(base) = spec.get("baseProfileName").and_then(Value::as_str) {
        return Err(format!(
            "the SeccompProfile stacks on base profile '{base}', which a runtime cannot resolve; \
             pull that one too and combine them with `seccomp-recorder merge`"
        ));
    }
    let profile: Map<String, Value> = spec
        .iter()
        .filter(|(k, _)| RUNTIME_SPEC_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut text =
        serde_json::to_string_pretty(&Value::Object(profile)).expect("a JSON value serializes");
    text.push('\n');
    Ok(text.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_becomes_the_profile() {
        let yaml = br#"apiVersion: security-profiles-operator.x-k8s.io/v1
kind: SeccompProfile
metadata:
  name: demo
spec:
  disabled: false
  defaultAction: SCMP_ACT_ERRNO
  architectures: [SCMP_ARCH_X86_64]
  syscalls:
  - action: SCMP_ACT_ALLOW
    names: [read, write]
"#;
        let json = String::from_utf8(to_runtime_spec(yaml).unwrap()).unwrap();
        let expected = r#"{
  "defaultAction": "SCMP_ACT_ERRNO",
  "architectures": [
    "SCMP_ARCH_X86_64"
  ],
  "syscalls": [
    {
      "action": "SCMP_ACT_ALLOW",
      "names": [
        "read",
        "write"
      ]
    }
  ]
}
"#;
        assert_eq!(json, expected);
    }

    #[test]
    fn other_resources_and_stacked_profiles_are_refused() {
        let apparmor = b"kind: AppArmorProfile\nspec: {}\n";
        assert!(
            to_runtime_spec(apparmor)
                .unwrap_err()
                .contains("a AppArmorProfile")
        );
        let stacked = b"kind: SeccompProfile\nspec:\n  defaultAction: SCMP_ACT_ERRNO\n  baseProfileName: runc-v1.1.5\n";
        assert!(
            to_runtime_spec(stacked)
                .unwrap_err()
                .contains("runc-v1.1.5")
        );
        assert!(to_runtime_spec(b"[1, 2").is_err());
    }
}
