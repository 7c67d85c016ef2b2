//! The container engines, one type and one name each: whose containers a target is and
//! whose RuntimeDefault a baseline is.

/// A container engine. It prints as users type it for `--runtime`, `--baseline` and
/// `--follow-engine` (`crio`), and reads the other spellings engines and users use
/// (`cri-o`, as the CRI names it; `libpod`; `ctr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Engine {
    Docker,
    Containerd,
    Podman,
    Crio,
}

impl Engine {
    pub const ALL: [Engine; 4] = [
        Engine::Docker,
        Engine::Containerd,
        Engine::Podman,
        Engine::Crio,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Containerd => "containerd",
            Engine::Podman => "podman",
            Engine::Crio => "crio",
        }
    }

    /// Any spelling of an engine's name, in any case; `None` for another name.
    pub fn from_name(name: &str) -> Option<Engine> {
        match name.to_ascii_lowercase().as_str() {
            "docker" => Some(Engine::Docker),
            "containerd" | "ctr" => Some(Engine::Containerd),
            "podman" | "libpod" => Some(Engine::Podman),
            "crio" | "cri-o" => Some(Engine::Crio),
            _ => None,
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> Result<Engine, String> {
        Engine::from_name(s).ok_or_else(|| {
            format!("unknown engine '{s}': expected docker, containerd, podman or crio")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_reads_as_one_engine_with_one_name() {
        for (typed, engine) in [
            ("docker", Engine::Docker),
            ("Docker", Engine::Docker),
            ("ctr", Engine::Containerd),
            ("libpod", Engine::Podman),
            ("crio", Engine::Crio),
            ("cri-o", Engine::Crio),
            ("CRI-O", Engine::Crio),
        ] {
            assert_eq!(typed.parse::<Engine>(), Ok(engine), "{typed}");
        }
        assert!("rkt".parse::<Engine>().unwrap_err().contains("rkt"));
        let names: Vec<String> = Engine::ALL.iter().map(Engine::to_string).collect();
        assert_eq!(names, ["docker", "containerd", "podman", "crio"]);
        for e in Engine::ALL {
            assert_eq!(e.name().parse::<Engine>(), Ok(e));
        }
    }
}
