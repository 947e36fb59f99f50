//! Content negotiation for `Accept-Encoding` (RFC 9110 §12.5.3): q-values,
//! `identity;q=0`, `*`. The client's weights decide; the server's preference
//! (br > zstd > gzip > identity) breaks ties.

use crate::codec::Encoding;

/// What the client accepts: a weight in thousandths per coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    weights: [u16; 4],
}

impl Accepted {
    /// Parses an `Accept-Encoding` value; `None` means the field was absent, in
    /// which case any coding is acceptable but identity is what to send.
    pub fn parse(value: Option<&str>) -> Accepted {
        let Some(value) = value else {
            // No field: identity only is the safe reading (RFC 9110 §12.5.3).
            return Accepted {
                weights: [0, 0, 0, 1000],
            };
        };
        let mut explicit: [Option<u16>; 4] = [None; 4];
        let mut star: Option<u16> = None;
        for item in value.split(',') {
            let mut params = item.split(';');
            let coding = params.next().unwrap_or("").trim();
            if coding.is_empty() {
                continue;
            }
            let mut q = 1000;
            for param in params {
                if let Some((k, v)) = param.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("q") {
                        q = parse_q(v.trim()).unwrap_or(0);
                    }
                }
            }
            let slot = match coding.to_ascii_lowercase().as_str() {
                "br" => Some(0),
                "zstd" => Some(1),
                "gzip" | "x-gzip" => Some(2),
                "identity" => Some(3),
                "*" => {
                    star = Some(q);
                    None
                }
                _ => None,
            };
            if let Some(i) = slot {
                // Several entries for one coding: the highest weight counts.
                explicit[i] = Some(explicit[i].map_or(q, |old| old.max(q)));
            }
        }
        let mut weights = [0u16; 4];
        for (i, w) in weights.iter_mut().enumerate() {
            *w = match (explicit[i], star) {
                (Some(q), _) => q,
                (None, Some(q)) => q,
                // identity is acceptable unless excluded, by name or by `*;q=0`,
                // but below every coding the client names (RFC 9110 §12.5.3).
                (None, None) if i == 3 => 1,
                (None, None) => 0,
            };
        }
        Accepted { weights }
    }

    fn weight(&self, e: Encoding) -> u16 {
        self.weights[match e {
            Encoding::Br => 0,
            Encoding::Zstd => 1,
            Encoding::Gzip => 2,
            Encoding::Identity => 3,
        }]
    }

    /// The best of `available` (identity is always available unless refused):
    /// highest client weight, server preference on ties. `None` when nothing
    /// acceptable exists (the caller answers 406).
    pub fn choose(&self, available: &[Encoding]) -> Option<Encoding> {
        Encoding::PREFERENCE
            .iter()
            .copied()
            .filter(|e| *e == Encoding::Identity || available.contains(e))
            .filter(|e| self.weight(*e) > 0)
            .max_by(|a, b| {
                self.weight(*a).cmp(&self.weight(*b)).then_with(|| {
                    // Earlier in PREFERENCE wins a tie: compare positions reversed.
                    let pos = |e: &Encoding| {
                        Encoding::PREFERENCE
                            .iter()
                            .position(|p| p == e)
                            .unwrap_or(9)
                    };
                    pos(b).cmp(&pos(a))
                })
            })
    }
}

/// `q=0.8` → 800. At most three decimals, 0 to 1 (RFC 9110 §12.4.2).
fn parse_q(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::Encoding::*;
    use super::*;

    const ALL: [Encoding; 3] = [Br, Zstd, Gzip];

    fn choose(value: Option<&str>, available: &[Encoding]) -> Option<Encoding> {
        Accepted::parse(value).choose(available)
    }

    #[test]
    fn negotiation_table() {
        let cases: &[(Option<&str>, &[Encoding], Option<Encoding>)] = &[
            (None, &ALL, Some(Identity)),
            (Some(""), &ALL, Some(Identity)),
            (Some("gzip"), &ALL, Some(Gzip)),
            (Some("gzip, br"), &ALL, Some(Br)),
            (Some("gzip, deflate, br, zstd"), &ALL, Some(Br)),
            (Some("gzip, zstd"), &ALL, Some(Zstd)),
            (Some("br;q=0.5, gzip;q=0.9"), &ALL, Some(Gzip)),
            (Some("br;q=0.5, gzip;q=0.5"), &ALL, Some(Br)),
            (Some("br;q=0"), &ALL, Some(Identity)),
            (Some("br"), &[Gzip], Some(Identity)),
            (Some("*"), &ALL, Some(Br)),
            (Some("*;q=0.5, gzip"), &ALL, Some(Gzip)),
            (Some("identity;q=0, gzip"), &[], None),
            (Some("identity;q=0, gzip"), &ALL, Some(Gzip)),
            (Some("*;q=0"), &ALL, None),
            (Some("*;q=0, identity"), &ALL, Some(Identity)),
            (Some("GZIP;Q=1.0"), &ALL, Some(Gzip)),
            (Some("x-gzip"), &ALL, Some(Gzip)),
            (Some("gzip;q=2"), &ALL, Some(Identity)),
            (Some("gzip;q=0.0001"), &ALL, Some(Identity)),
            (Some("gzip;q=0.001, identity;q=0"), &ALL, Some(Gzip)),
            (Some("compress, deflate"), &ALL, Some(Identity)),
        ];
        for (value, available, want) in cases {
            assert_eq!(
                choose(*value, available),
                *want,
                "{value:?} from {available:?}"
            );
        }
    }

    #[test]
    fn q_values() {
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("0.5"), Some(500));
        assert_eq!(parse_q("0.125"), Some(125));
        assert_eq!(parse_q("0"), Some(0));
        assert_eq!(parse_q("1.5"), None);
        assert_eq!(parse_q("0.1234"), None);
        assert_eq!(parse_q("abc"), None);
    }
}
