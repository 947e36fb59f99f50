//! The `[[site]]` tables, and the checks between keys of a site and between
//! sites.

use std::collections::HashMap;
use std::net::SocketAddr;

use toml::de::{DeTable, DeValue};

use super::problem::{join, unknown_key, Location};
use super::route::ROUTE_ONLY_KEYS;
use super::walk::{entries, keep_list, Val, Walker, ETAGS, SITE_KEYS, TLS_KEYS};
use super::{CacheRuleKey, FileConfig, Locations, SiteKeys};
use crate::config::raw;
use crate::config::TlsChoice;
use crate::handler::cache_control::{CachePolicy, Rule};
use crate::server::tls::CertFiles;

impl Walker<'_> {
    /// `site`: an array of tables, each read by [`Walker::site`].
    pub(super) fn sites(&mut self, v: &Val<'_>) -> Vec<SiteKeys> {
        let expected = "an array of tables ([[site]])";
        let DeValue::Array(items) = v.get_ref() else {
            return self.wrong_type("site", v, expected).unwrap_or_default();
        };
        let several = items.len() > 1;
        let mut sites = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let prefix = format!("site[{i}]");
            // A site that is not a table still takes its index, so the
            // messages about later sites name the right one.
            let site = match item.get_ref() {
                DeValue::Table(t) => self.site(&prefix, item, t, several),
                _ => {
                    self.wrong_type::<()>(&prefix, item, "a table");
                    SiteKeys::default()
                }
            };
            sites.push(site);
        }
        sites
    }

    /// One `[[site]]` table, at index `prefix` (`site[2]`).
    pub(super) fn site(
        &mut self,
        prefix: &str,
        v: &Val<'_>,
        table: &DeTable<'_>,
        several: bool,
    ) -> SiteKeys {
        let mut out = SiteKeys {
            header: self.loc(v.span().start),
            ..SiteKeys::default()
        };
        for (k, v) in entries(table) {
            let name: &str = k.get_ref();
            let key = join(prefix, name);
            let key = key.as_str();
            match name {
                "hosts" => {
                    let items = self.list(key, v, "an array of host names", |w, key, v| {
                        let s = w.string(key, v, "a host name (a string)")?;
                        match super::host::host(s) {
                            Ok(h) => Some(h),
                            Err(e) => {
                                w.report(v.span().start, key, e);
                                None
                            }
                        }
                    });
                    out.hosts = keep_list(&mut out.locations, name, items);
                }
                "root" => out.root = self.path(key, v),
                "default" => out.default = self.boolean(key, v),
                "listen" => {
                    let items = self.addresses(key, v);
                    out.listen = keep_list(&mut out.locations, name, items);
                }
                "listen_tls" => {
                    let items = self.addresses(key, v);
                    out.listen_tls = keep_list(&mut out.locations, name, items);
                }
                "index" => {
                    let items = self.list(key, v, "an array of file names", |w, key, v| {
                        let s = w.string(key, v, "a file name (a string)")?;
                        if raw::is_plain_file_name(s) {
                            Some(s.to_string())
                        } else {
                            w.report(
                                v.span().start,
                                key,
                                format!("'{s}' must be a plain file name"),
                            );
                            None
                        }
                    });
                    out.index = keep_list(&mut out.locations, name, items);
                }
                "listing" => out.listing = self.boolean(key, v),
                "hidden" => out.hidden = self.boolean(key, v),
                "archive" => out.archive = self.boolean(key, v),
                "upload" => out.upload = self.boolean(key, v),
                "overwrite" => out.overwrite = self.boolean(key, v),
                "mkdir" => out.mkdir = self.boolean(key, v),
                "delete" => out.delete = self.boolean(key, v),
                "upload_max_size" => out.upload_max_size = self.size(key, v, raw::parse_size),
                "error_pages" => out.error_pages = self.path(key, v),
                "cache_control" => {
                    let s = self.string(key, v, "a Cache-Control value (a string)");
                    out.cache_control = s.and_then(|s| match CachePolicy::default_value(s) {
                        Ok(value) => Some(value),
                        Err(e) => {
                            self.report(v.span().start, key, e.to_string());
                            None
                        }
                    });
                }
                "cache_rules" => out.cache_rules = self.cache_rules(key, v, &mut out.locations),
                "cache_defaults" => out.cache_defaults = self.boolean(key, v),
                "etag" => out.etag = self.choice(key, v, ETAGS),
                "max_ranges" => out.max_ranges = self.u16_in(key, v, 1, 1000),
                "precompressed" => out.precompressed = self.boolean(key, v),
                "compress" => out.compress = self.boolean(key, v),
                "compress_min_size" => out.compress_min_size = self.size(key, v, raw::parse_size),
                "compress_max_size" => out.compress_max_size = self.size(key, v, raw::parse_size),
                "tls" => out.tls = self.tls(key, v, &mut out.locations),
                "hsts" => out.hsts = self.whole_seconds(key, v),
                "https_redirect" => out.https_redirect = self.boolean(key, v),
                "headers" | "security_headers" | "cors" | "auth" | "allow" | "deny" => {
                    self.modifier(key, name, v, &mut out.modifiers, &mut out.locations);
                }
                "route" => out.routes = self.routes(key, v, &mut out.locations),
                _ => {
                    let message = if ROUTE_ONLY_KEYS.contains(&name) {
                        "unknown key; it belongs under [[site.route]]".to_string()
                    } else {
                        unknown_key(name, SITE_KEYS)
                    };
                    self.report(k.span().start, key, message);
                    continue;
                }
            }
            out.locations
                .insert(name.to_string(), self.loc(v.span().start));
        }
        self.within_site(prefix, &out, several);
        out
    }

    /// `{ "PATTERN" = "VALUE", ... }`, kept in file order; each rule built as
    /// `--cache-rule PATTERN=VALUE` would be.
    pub(super) fn cache_rules(
        &mut self,
        key: &str,
        v: &Val<'_>,
        locations: &mut Locations,
    ) -> Option<Vec<CacheRuleKey>> {
        let table = self.table(key, v, "a table of \"PATTERN\" = \"VALUE\"")?;
        let mut rules = Vec::with_capacity(table.len());
        let mut ok = true;
        for (k, v) in entries(table) {
            let pattern: &str = k.get_ref();
            let rule_key = join(key, pattern);
            let Some(value) = self.string(&rule_key, v, "a Cache-Control value (a string)") else {
                ok = false;
                continue;
            };
            // The value first, reported at the value; then the pattern, at the key.
            if let Err(e) = CachePolicy::default_value(value) {
                self.report(v.span().start, &rule_key, e.to_string());
                ok = false;
                continue;
            }
            let problem = if pattern.trim().is_empty() {
                Some("empty pattern".to_string())
            } else if pattern.contains('=') {
                Some("a pattern cannot contain '='".to_string())
            } else {
                None
            };
            let rule = match problem {
                Some(p) => Err(p),
                None => Rule::parse(&format!("{pattern}={value}")).map_err(|e| e.to_string()),
            };
            match rule {
                Ok(rule) => {
                    locations.insert(join("cache_rules", pattern), self.loc(v.span().start));
                    rules.push(CacheRuleKey {
                        pattern: pattern.to_string(),
                        value: value.to_string(),
                        rule,
                    });
                }
                Err(e) => {
                    self.report(k.span().start, &rule_key, e);
                    ok = false;
                }
            }
        }
        ok.then_some(rules)
    }

    /// `{ cert = "...", key = "..." }`, `{ self_signed = true }`, `"acme"` or
    /// `{ acme = true, challenge = "http-01" }`.
    pub(super) fn tls(
        &mut self,
        key: &str,
        v: &Val<'_>,
        locations: &mut Locations,
    ) -> Option<TlsChoice> {
        if let DeValue::String(_) = v.get_ref() {
            return self.tls_word(key, v);
        }
        let table = self.table(key, v, "a table such as { cert = \"...\", key = \"...\" }")?;
        let (mut cert, mut pkey, mut self_signed) = (None, None, None);
        let (mut acme, mut challenge) = (None, None);
        let (mut has_files, mut ok) = (false, true);
        for (k, v) in entries(table) {
            let name: &str = k.get_ref();
            let sub_key = join(key, name);
            let value_ok = match name {
                "cert" => {
                    has_files = true;
                    cert = self.path(&sub_key, v);
                    cert.is_some()
                }
                "key" => {
                    has_files = true;
                    pkey = self.path(&sub_key, v);
                    pkey.is_some()
                }
                "self_signed" => {
                    self_signed = self.boolean(&sub_key, v).map(|b| (b, v.span().start));
                    self_signed.is_some()
                }
                "acme" => {
                    acme = self.boolean(&sub_key, v).map(|b| (b, v.span().start));
                    acme.is_some()
                }
                "challenge" => {
                    challenge = self.challenge(&sub_key, v).map(|c| (c, v.span().start));
                    challenge.is_some()
                }
                _ => {
                    self.report(k.span().start, &sub_key, unknown_key(name, TLS_KEYS));
                    ok = false;
                    continue;
                }
            };
            ok &= value_ok;
            locations.insert(join("tls", name), self.loc(v.span().start));
        }
        let at = v.span().start;
        match (acme, challenge) {
            (Some((true, flag_at)), _) if has_files => {
                self.report(flag_at, &join(key, "acme"), "cannot go with cert and key");
                return None;
            }
            (Some((true, flag_at)), _) if matches!(self_signed, Some((true, _))) => {
                self.report(flag_at, &join(key, "acme"), "cannot go with self_signed");
                return None;
            }
            (Some((true, _)), challenge) => {
                return ok.then(|| TlsChoice::Acme(challenge.map(|c| c.0).unwrap_or_default()));
            }
            (_, Some((_, challenge_at))) => {
                self.report(challenge_at, &join(key, "challenge"), "needs acme = true");
                return None;
            }
            _ => {}
        }
        match self_signed {
            Some((true, flag_at)) if has_files => {
                self.report(
                    flag_at,
                    &join(key, "self_signed"),
                    "cannot go with cert and key",
                );
                None
            }
            Some((true, _)) => ok.then_some(TlsChoice::SelfSigned),
            _ if !ok => None,
            _ => match (cert, pkey) {
                (Some(cert), Some(key)) => Some(TlsChoice::Files(vec![CertFiles { cert, key }])),
                (Some(_), None) => {
                    self.report(at, key, "missing key 'key' (the private key file)");
                    None
                }
                (None, Some(_)) => {
                    self.report(at, key, "missing key 'cert' (the certificate file)");
                    None
                }
                (None, None) => {
                    self.report(at, key, "expected cert and key (or self_signed = true)");
                    None
                }
            },
        }
    }

    /// A duration or a number of seconds, in whole seconds.
    pub(super) fn whole_seconds(&mut self, key: &str, v: &Val<'_>) -> Option<u64> {
        let d = self.duration(key, v, raw::parse_duration)?;
        if d.subsec_nanos() != 0 {
            self.report(v.span().start, key, "must be a whole number of seconds");
            return None;
        }
        Some(d.as_secs())
    }

    // ---- checks of more than one value --------------------------------------

    /// Checks between the keys of one site.
    pub(super) fn within_site(&mut self, prefix: &str, site: &SiteKeys, several: bool) {
        let needs_tls = |key: &str| format!("{key} needs tls on this site");
        if site.root.is_none() && site.location("root").is_none() {
            if let Some(at) = site.location("tls") {
                self.report_at(at, &join(prefix, "tls"), "a site with tls needs a root");
            } else if several {
                self.report_at(
                    site.header,
                    prefix,
                    "missing key 'root'; with several sites, each needs its own",
                );
            }
        }
        if site.location("tls").is_none() {
            for name in ["hsts", "listen_tls"] {
                if let Some(at) = site.location(name) {
                    self.report_at(at, &join(prefix, name), needs_tls(name));
                }
            }
            if site.https_redirect == Some(true) {
                if let Some(at) = site.location("https_redirect") {
                    self.report_at(
                        at,
                        &join(prefix, "https_redirect"),
                        needs_tls("https_redirect"),
                    );
                }
            }
        }
        if let (Some(min), Some(max)) = (site.compress_min_size, site.compress_max_size) {
            if min > max {
                if let Some(at) = site.location("compress_min_size") {
                    self.report_at(
                        at,
                        &join(prefix, "compress_min_size"),
                        "is larger than compress_max_size",
                    );
                }
            }
        }
    }

    /// Checks between sites: one default, each host once, each listener once.
    pub(super) fn across_sites(&mut self, config: &FileConfig) {
        let mut default_site = None;
        let mut hosts: HashMap<&str, (usize, usize)> = HashMap::new();
        for (i, site) in config.sites.iter().enumerate() {
            if site.default == Some(true) {
                match default_site {
                    Some(first) => {
                        let at = site.location("default").unwrap_or(site.header);
                        let message = format!(
                            "site[{first}] is already the default; at most one site can be"
                        );
                        self.report_at(at, &format!("site[{i}].default"), message);
                    }
                    None => default_site = Some(i),
                }
            }
            for (j, host) in site.hosts.iter().flatten().enumerate() {
                let key = format!("site[{i}].hosts[{j}]");
                let at = site.location(&format!("hosts[{j}]")).unwrap_or(site.header);
                match hosts.get(host.as_str()) {
                    Some(&(fi, fj)) if fi == i => {
                        self.report_at(at, &key, format!("'{host}' is listed twice (hosts[{fj}])"));
                    }
                    Some(&(fi, _)) => {
                        self.report_at(
                            at,
                            &key,
                            format!("'{host}' is already a host of site[{fi}]"),
                        );
                    }
                    None => {
                        hosts.insert(host, (i, j));
                    }
                }
            }
        }

        // Every listener address in the file, in order: each is bound once.
        let mut listeners: Vec<(String, SocketAddr, Location)> = Vec::new();
        let mut collect = |prefix: &str,
                           name: &str,
                           list: &Option<Vec<SocketAddr>>,
                           at: &dyn Fn(&str) -> Option<Location>| {
            for (j, addr) in list.iter().flatten().enumerate() {
                let rel = format!("{name}[{j}]");
                let loc = at(&rel).unwrap_or_default();
                listeners.push((format!("{prefix}.{rel}"), *addr, loc));
            }
        };
        let server = &config.server;
        collect("server", "listen", &server.listen, &|k| server.location(k));
        collect("server", "listen_tls", &server.listen_tls, &|k| {
            server.location(k)
        });
        for (i, site) in config.sites.iter().enumerate() {
            let prefix = format!("site[{i}]");
            collect(&prefix, "listen", &site.listen, &|k| site.location(k));
            collect(&prefix, "listen_tls", &site.listen_tls, &|k| {
                site.location(k)
            });
        }
        let mut seen: HashMap<SocketAddr, String> = HashMap::new();
        for (key, addr, loc) in listeners {
            match seen.get(&addr) {
                Some(first) => {
                    let message = format!("{addr} is already listed at {first}");
                    self.report_at(loc, &key, message);
                }
                None => {
                    seen.insert(addr, key);
                }
            }
        }
    }
}
