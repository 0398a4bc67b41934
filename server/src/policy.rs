//! Who may connect and what they may do: the answer to a viewer that asks for sole access
//! (the ClientInit shared flag off, RFC 6143 §7.3.1), and view-only viewers.

/// What to do with a viewer that connects without sharing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExclusivePolicy {
    /// It stays and the viewers already connected are sent away (what RFB asks).
    #[default]
    Replace,
    /// It is turned away while other viewers are connected.
    Refuse,
    /// Its wish is ignored: it shares the desktop like everyone else.
    Ignore,
}

impl std::str::FromStr for ExclusivePolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "replace" => Ok(ExclusivePolicy::Replace),
            "refuse" => Ok(ExclusivePolicy::Refuse),
            "ignore" => Ok(ExclusivePolicy::Ignore),
            _ => Err(format!("{text:?}: expected replace, refuse or ignore")),
        }
    }
}

/// What happens to a viewer at ClientInit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// It joins the others.
    Share,
    /// It joins and the others leave.
    SendOthersAway,
    /// It is disconnected.
    Refuse,
}

impl ExclusivePolicy {
    /// The admission of a viewer with this `shared` flag when `others` viewers are connected.
    pub fn admit(self, shared: bool, others: usize) -> Admission {
        match self {
            _ if shared => Admission::Share,
            ExclusivePolicy::Replace => Admission::SendOthersAway,
            ExclusivePolicy::Refuse if others > 0 => Admission::Refuse,
            ExclusivePolicy::Refuse => Admission::SendOthersAway,
            ExclusivePolicy::Ignore => Admission::Share,
        }
    }
}

/// The rules every session follows.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionPolicy {
    pub exclusive: ExclusivePolicy,
    /// No viewer may send input or clipboard.
    pub view_only: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admissions() {
        use Admission::*;
        for policy in [
            ExclusivePolicy::Replace,
            ExclusivePolicy::Refuse,
            ExclusivePolicy::Ignore,
        ] {
            assert_eq!(policy.admit(true, 3), Share, "{policy:?}");
        }
        assert_eq!(ExclusivePolicy::Replace.admit(false, 2), SendOthersAway);
        assert_eq!(ExclusivePolicy::Refuse.admit(false, 2), Refuse);
        // Alone, an exclusive viewer is let in, and later ones that do not share replace it.
        assert_eq!(ExclusivePolicy::Refuse.admit(false, 0), SendOthersAway);
        assert_eq!(ExclusivePolicy::Ignore.admit(false, 2), Share);
    }
}
