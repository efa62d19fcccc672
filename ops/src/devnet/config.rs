//! Per-service wrangler configurations for the local network, derived from the committed ones.
//!
//! `wrangler dev` applies one `--env` to every config it loads, so the local network cannot
//! load `validator/wrangler.toml` once per identity. Instead each service gets a flattened JSON
//! config: the committed TOML with the chosen `[env.*]` section merged over the top level,
//! `[build]` and `[env]` dropped (the Workers are built beforehand), and `main` made absolute.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value};

/// Reads a committed wrangler.toml and flattens it for one environment (or none).
///
/// `service_dir` is the folder `main` is relative to (the config file's folder).
pub fn flatten(
    toml_text: &str,
    service_dir: &Path,
    environment: Option<&str>,
) -> Result<Map<String, Value>> {
    let table: toml::Table = toml::from_str(toml_text).context("parsing wrangler.toml")?;
    let mut config = match serde_json::to_value(&table)? {
        Value::Object(map) => map,
        _ => bail!("wrangler.toml is not a table"),
    };
    let environments = config.remove("env");
    config.remove("build");
    if let Some(name) = environment {
        let section = environments
            .as_ref()
            .and_then(|environments| environments.get(name))
            .and_then(Value::as_object)
            .ok_or_else(|| anyhow!("wrangler.toml has no [env.{name}]"))?;
        for (key, value) in section {
            config.insert(key.clone(), value.clone());
        }
    }
    let main = config
        .get("main")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("wrangler.toml has no main"))?;
    let main = service_dir.join(main);
    config.insert("main".to_owned(), Value::String(main.display().to_string()));
    Ok(config)
}

/// The public gateway's config, made from the sequencer's flattened one: the same Worker (its
/// front door) under another name, reaching the `Sequencer` object in the sequencer's script
/// (`script_name`) rather than hosting it, so it can run in a workerd process of its own.
pub fn gateway(
    sequencer: &Map<String, Value>,
    name: &str,
    sequencer_script: &str,
) -> Map<String, Value> {
    let mut gateway = sequencer.clone();
    gateway.insert("name".to_owned(), Value::String(name.to_owned()));
    // It hosts no object: its own copy of the class stays unused.
    gateway.remove("migrations");
    if let Some(Value::Array(bindings)) = gateway
        .get_mut("durable_objects")
        .and_then(|objects| objects.get_mut("bindings"))
    {
        for binding in bindings.iter_mut() {
            if let Value::Object(binding) = binding {
                binding
                    .entry("script_name")
                    .or_insert_with(|| Value::String(sequencer_script.to_owned()));
            }
        }
    }
    gateway
}

/// Sets (or adds) a plain variable in a flattened config.
pub fn set_var(config: &mut Map<String, Value>, name: &str, value: &str) {
    let vars = config
        .entry("vars")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(vars) = vars {
        vars.insert(name.to_owned(), Value::String(value.to_owned()));
    }
}

/// Sets the request limit of every rate-limiting binding (`[[ratelimits]]`) in a flattened
/// config.
pub fn set_rate_limit(config: &mut Map<String, Value>, limit: u32) {
    if let Some(Value::Array(limiters)) = config.get_mut("ratelimits") {
        for limiter in limiters.iter_mut() {
            if let Some(Value::Object(simple)) = limiter.get_mut("simple") {
                simple.insert("limit".to_owned(), Value::from(limit));
            }
        }
    }
}

/// A `.dev.vars` file: one `NAME='value'` line per variable. Values must not contain a single
/// quote (JSON and hex never do), which is checked.
pub fn dev_vars(variables: &[(&str, &str)]) -> Result<String> {
    let mut text = String::new();
    for (name, value) in variables {
        if value.contains('\'') || value.contains('\n') {
            bail!("{name} cannot be written to .dev.vars: it contains a quote or a newline");
        }
        text.push_str(&format!("{name}='{value}'\n"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALIDATOR: &str = r#"
name = "edgeledger-validator"
main = "build/index.js"
compatibility_date = "2026-04-01"

[build]
command = "worker-build --release"

[env.v1]
name = "edgeledger-validator-v1"

[env.v1.vars]
FAULT_INJECTION = "disabled"

[[env.v1.durable_objects.bindings]]
name = "GUARD"
class_name = "Guard"
"#;

    #[test]
    fn the_rate_limit_is_set_on_every_limiter() {
        let mut config: Map<String, Value> = serde_json::from_str(
            r#"{"ratelimits": [{"name": "RATE_LIMITER", "simple": {"limit": 1000, "period": 10}}]}"#,
        )
        .expect("json");
        set_rate_limit(&mut config, 3_000);
        assert_eq!(config["ratelimits"][0]["simple"]["limit"], 3_000);
        assert_eq!(config["ratelimits"][0]["simple"]["period"], 10);
    }

    #[test]
    fn an_environment_is_merged_over_the_top_level_and_build_is_dropped() {
        let mut config =
            flatten(VALIDATOR, Path::new("/repo/validator"), Some("v1")).expect("flattens");
        assert_eq!(config["name"], "edgeledger-validator-v1");
        assert_eq!(config["main"], "/repo/validator/build/index.js");
        assert_eq!(config["compatibility_date"], "2026-04-01");
        assert_eq!(
            config["durable_objects"]["bindings"][0]["class_name"],
            "Guard"
        );
        assert!(config.get("build").is_none() && config.get("env").is_none());
        set_var(&mut config, "FAULT_INJECTION", "enabled");
        assert_eq!(config["vars"]["FAULT_INJECTION"], "enabled");
    }

    #[test]
    fn a_missing_environment_or_main_is_an_error() {
        assert!(flatten(VALIDATOR, Path::new("/x"), Some("v9")).is_err());
        assert!(flatten("name = \"x\"", Path::new("/x"), None).is_err());
    }

    #[test]
    fn dev_vars_quote_values_and_refuse_quotes() {
        let text = dev_vars(&[("A", "{\"x\":1}"), ("B", "0xab")]).expect("writes");
        assert_eq!(text, "A='{\"x\":1}'\nB='0xab'\n");
        assert!(dev_vars(&[("A", "it's")]).is_err());
    }

    #[test]
    fn the_gateway_reaches_the_sequencer_object_in_the_sequencers_script() {
        let sequencer: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "name": "edgeledger-sequencer",
            "main": "/repo/sequencer/build/index.js",
            "durable_objects": {"bindings": [
                {"name": "SEQUENCER", "class_name": "Sequencer"},
                {"name": "SHARD", "class_name": "Shard", "script_name": "edgeledger-shards"}
            ]},
            "migrations": [{"tag": "v1", "new_sqlite_classes": ["Sequencer"]}],
            "vars": {"X": "1"}
        }))
        .expect("a map");
        let gateway = gateway(&sequencer, "edgeledger-gateway", "edgeledger-sequencer");
        assert_eq!(gateway["name"], "edgeledger-gateway");
        assert_eq!(gateway["main"], sequencer["main"]);
        assert!(!gateway.contains_key("migrations"));
        let bindings = &gateway["durable_objects"]["bindings"];
        assert_eq!(bindings[0]["script_name"], "edgeledger-sequencer");
        assert_eq!(bindings[1]["script_name"], "edgeledger-shards", "kept");
        assert_eq!(gateway["vars"], sequencer["vars"]);
    }
}
