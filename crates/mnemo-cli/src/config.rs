//! Configuration, layered: built-in defaults, then the TOML file, then `MNEMO_*`
//! environment variables, then command-line flags (each layer overrides the one before).
//! `mnemo config` prints [`DEFAULT_CONFIG`], a commented file to start from.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use mnemo_engine::{EmbedderSettings, EngineSettings, PipelineSettings};
use mnemo_llm::{ApiKey, LlmConfig, ProviderKind};
use serde::Deserialize;

use crate::cli::GlobalArgs;

/// The commented default config printed by `mnemo config`.
pub const DEFAULT_CONFIG: &str = include_str!("default_config.toml");

/// The config file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub db: Option<PathBuf>,
    pub user: Option<String>,
    pub agent: Option<String>,
    pub embedder: Option<String>,
    /// `[embedding]`: where an HTTP embedder is reached.
    pub embedding: EmbeddingFile,
    pub engine: EngineSettings,
    pub llm: LlmConfig,
    pub pipeline: PipelineSettings,
    /// Prices per model for `mnemo usage`.
    pub pricing: Pricing,
    /// `mnemo serve`.
    pub server: mnemo_server::ServerSettings,
    /// `[privacy]`: what happens to secrets in conversation turns.
    pub privacy: PrivacyFile,
}

/// The `[privacy]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyFile {
    /// `mask` (default), `keep` or `reject`.
    pub secrets: Option<mnemo_engine::secrets::SecretsPolicy>,
}

/// The `[embedding]` table: server settings of `ollama:` and `openai:` embedders.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingFile {
    pub url: Option<String>,
    pub api_key: Option<ApiKey>,
    /// Seconds one request may take.
    pub timeout: Option<f64>,
}

/// The resolved configuration a command runs with.
#[derive(Debug)]
pub struct Config {
    pub db: PathBuf,
    /// Whether the database path was given (flag, env or file) rather than the default XDG
    /// location: only the default location has its directories created.
    pub db_explicit: bool,
    pub user: String,
    /// Whether the user came from `--user` (some destructive commands insist on it).
    pub user_explicit: bool,
    pub agent: Option<String>,
    /// Embedder for turns and memories: `static` (built in, the default), `none`,
    /// `static:FILE`, `ollama:MODEL` or `openai:MODEL`.
    pub embedder: String,
    /// Server, key and timeout of an HTTP embedder, resolved (see [`embedder_settings`]).
    pub embedding: EmbedderSettings,
    pub engine: EngineSettings,
    /// The model provider (`[llm]` table, then `MNEMO_LLM_PROVIDER`, `MNEMO_MODEL` and the
    /// provider's own variables such as `OLLAMA_HOST` or `OPENAI_API_KEY`).
    pub llm: LlmConfig,
    /// The memory pipeline (`[pipeline]`): summary interval, retries, leases.
    pub pipeline: PipelineSettings,
    /// `[pricing]`: USD per million tokens, by model name.
    pub pricing: Pricing,
    /// `[server]`: listen address, body limit, request timeout (`mnemo serve`).
    pub server: mnemo_server::ServerSettings,
    pub config_path: PathBuf,
    pub json: bool,
}

/// `[pricing]`: model name → `[input, output]` USD per million tokens.
pub type Pricing = std::collections::BTreeMap<String, [f64; 2]>;

/// The embedder used when none is configured: the built-in static table (offline).
pub const DEFAULT_EMBEDDER: &str = "static";

/// Environment lookup, injectable for tests.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Config {
    /// Resolves the configuration from flags, the environment and the config file.
    pub fn load(flags: &GlobalArgs, env: Env) -> Result<Config> {
        let config_path = flags
            .config
            .clone()
            .or_else(|| env("MNEMO_CONFIG").map(PathBuf::from))
            .unwrap_or_else(|| default_config_path(env));
        let file = read_file(&config_path, flags.config.is_some())?;
        let mut engine = file.engine;
        if let Some(p) = file.privacy.secrets {
            engine.secrets = p;
        }
        if let Some(v) = env("MNEMO_SECRETS") {
            engine.secrets = match v.trim() {
                "mask" => mnemo_engine::secrets::SecretsPolicy::Mask,
                "keep" => mnemo_engine::secrets::SecretsPolicy::Keep,
                "reject" => mnemo_engine::secrets::SecretsPolicy::Reject,
                other => anyhow::bail!(
                    "MNEMO_SECRETS=`{other}` is not a secrets policy; use mask, keep or reject"
                ),
            };
        }
        if let Some(v) = env("MNEMO_RECALL_LIMIT") {
            engine.recall_limit = v
                .parse()
                .with_context(|| format!("MNEMO_RECALL_LIMIT=`{v}` is not a whole number"))?;
        }
        let given_db = flags
            .db
            .clone()
            .or_else(|| env("MNEMO_DB").map(PathBuf::from))
            .or(file.db.map(|p| expand_home(&p, env)));
        let db_explicit = given_db.is_some();
        let db = given_db.unwrap_or_else(|| default_db_path(env));
        let user = flags
            .user
            .clone()
            .or_else(|| env("MNEMO_USER"))
            .or(file.user)
            .or_else(|| env("USER"))
            .unwrap_or_else(|| "default".to_string());
        let agent = flags
            .agent
            .clone()
            .or_else(|| env("MNEMO_AGENT"))
            .or(file.agent);
        let embedder = env("MNEMO_EMBEDDER")
            .or(file.embedder)
            .unwrap_or_else(|| DEFAULT_EMBEDDER.to_string());
        let mut server = file.server;
        if let Some(v) = env("MNEMO_LISTEN") {
            server.listen = v;
        }
        let llm = file
            .llm
            .from_env_over(env)
            .context("LLM settings from the environment")?;
        let embedding = embedder_settings(&embedder, file.embedding, &llm, env)?;
        Ok(Config {
            db,
            db_explicit,
            user,
            user_explicit: flags.user.is_some(),
            agent,
            embedder,
            embedding,
            engine,
            llm,
            pipeline: file.pipeline,
            pricing: file.pricing,
            server,
            config_path,
            json: flags.json,
        })
    }
}

/// Where an HTTP embedder sends text, and with which key. The URL, by precedence:
/// `MNEMO_EMBEDDER_URL`, `[embedding] url`, the `[llm]` base URL when the chat model speaks
/// the same protocol (`openai:` with `provider = "openai"`, `ollama:` with Ollama), then the
/// protocol's own variable (`OPENAI_BASE_URL`, `OLLAMA_HOST`). The key goes only where it
/// belongs: `MNEMO_EMBEDDER_API_KEY` or `[embedding] api_key` always; the `[llm]` key only
/// with the `[llm]` URL; `OPENAI_API_KEY` only to `OPENAI_BASE_URL` or OpenAI itself.
pub fn embedder_settings(
    spec: &str,
    file: EmbeddingFile,
    llm: &LlmConfig,
    env: Env,
) -> Result<EmbedderSettings> {
    let get = |k: &str| {
        env(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let kind = spec.split_once(':').map_or(spec, |(k, _)| k);
    let family = match kind {
        "openai" => Some(ProviderKind::OpenAi),
        "ollama" => Some(ProviderKind::Ollama),
        _ => None,
    };
    let own_key = get("MNEMO_EMBEDDER_API_KEY").or(file.api_key.map(|k| k.expose().to_owned()));
    let explicit = get("MNEMO_EMBEDDER_URL").or(file.url);
    let (url, key) = if explicit.is_some() {
        (explicit, own_key)
    } else if family == Some(llm.provider) && llm.base_url.is_some() {
        let llm_key = llm.api_key.as_ref().map(|k| k.expose().to_owned());
        (llm.base_url.clone(), own_key.or(llm_key))
    } else if kind == "openai" {
        (
            get("OPENAI_BASE_URL"),
            own_key.or_else(|| get("OPENAI_API_KEY")),
        )
    } else if kind == "ollama" {
        (get("OLLAMA_HOST"), own_key)
    } else {
        (None, own_key)
    };
    let timeout = match file.timeout {
        Some(t) => Some(
            std::time::Duration::try_from_secs_f64(t)
                .with_context(|| format!("[embedding] timeout = {t} is not a number of seconds"))?,
        ),
        None => None,
    };
    Ok(EmbedderSettings {
        url,
        api_key: key,
        timeout,
    })
}

/// Reads and parses the config file; a missing file is fine unless it was named by a flag.
fn read_file(path: &Path, required: bool) -> Result<FileConfig> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(FileConfig::default())
        }
        Err(e) => bail!("cannot read config file {}: {e}", path.display()),
    };
    toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "config file {} is not valid: {e}\nhint: `mnemo config` prints a valid commented example",
            path.display()
        )
    })
}

fn home(env: Env) -> PathBuf {
    env("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn expand_home(p: &Path, env: Env) -> PathBuf {
    match p.strip_prefix("~") {
        Ok(rest) => home(env).join(rest),
        Err(_) => p.to_path_buf(),
    }
}

/// `$XDG_CONFIG_HOME/mnemo/config.toml`, else `~/.config/mnemo/config.toml`.
pub fn default_config_path(env: Env) -> PathBuf {
    xdg(env, "XDG_CONFIG_HOME", ".config")
        .join("mnemo")
        .join("config.toml")
}

/// `$XDG_DATA_HOME/mnemo/mnemo.db`, else `~/.local/share/mnemo/mnemo.db`.
pub fn default_db_path(env: Env) -> PathBuf {
    xdg(env, "XDG_DATA_HOME", ".local/share")
        .join("mnemo")
        .join("mnemo.db")
}

fn xdg(env: Env, var: &str, fallback: &str) -> PathBuf {
    env(var)
        .filter(|v| Path::new(v).is_absolute())
        .map(PathBuf::from)
        .unwrap_or_else(|| home(env).join(fallback))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn flags() -> GlobalArgs {
        GlobalArgs {
            db: None,
            user: None,
            agent: None,
            config: None,
            json: false,
        }
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn layers_apply_in_order_defaults_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(
            &cfg,
            "user = \"file-user\"\ndb = \"~/f.db\"\n[engine]\nrecall_limit = 3\n",
        )
        .unwrap();
        let cfg_s = cfg.to_str().unwrap();
        let env = env_of(&[("HOME", "/h"), ("USER", "sys"), ("MNEMO_CONFIG", cfg_s)]);
        let c = Config::load(&flags(), &env).unwrap();
        assert_eq!(
            (
                c.user.as_str(),
                c.db.to_str().unwrap(),
                c.engine.recall_limit
            ),
            ("file-user", "/h/f.db", 3)
        );

        let env = env_of(&[
            ("HOME", "/h"),
            ("MNEMO_CONFIG", cfg_s),
            ("MNEMO_USER", "env-user"),
            ("MNEMO_DB", "/e.db"),
            ("MNEMO_RECALL_LIMIT", "7"),
        ]);
        let c = Config::load(&flags(), &env).unwrap();
        assert_eq!(
            (
                c.user.as_str(),
                c.db.to_str().unwrap(),
                c.engine.recall_limit
            ),
            ("env-user", "/e.db", 7)
        );

        let mut f = flags();
        f.user = Some("flag-user".into());
        f.db = Some("/f.db".into());
        let c = Config::load(&f, &env).unwrap();
        assert_eq!(
            (c.user.as_str(), c.db.to_str().unwrap()),
            ("flag-user", "/f.db")
        );
        assert!(c.user_explicit);
    }

    #[test]
    fn defaults_follow_xdg_and_user() {
        let env = env_of(&[("HOME", "/h"), ("USER", "sys")]);
        let c = Config::load(&flags(), &env).unwrap();
        assert_eq!(c.db, PathBuf::from("/h/.local/share/mnemo/mnemo.db"));
        assert_eq!(c.config_path, PathBuf::from("/h/.config/mnemo/config.toml"));
        assert_eq!(c.user, "sys");
        assert_eq!(c.embedder, DEFAULT_EMBEDDER);
        let env = env_of(&[("HOME", "/h"), ("MNEMO_EMBEDDER", "none")]);
        assert_eq!(Config::load(&flags(), &env).unwrap().embedder, "none");
        let env = env_of(&[("HOME", "/h"), ("XDG_DATA_HOME", "/x")]);
        assert_eq!(
            Config::load(&flags(), &env).unwrap().db,
            PathBuf::from("/x/mnemo/mnemo.db")
        );
    }

    #[test]
    fn bad_files_and_values_explain_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, "usr = 1\n").unwrap();
        let env = env_of(&[("MNEMO_CONFIG", cfg.to_str().unwrap())]);
        let e = Config::load(&flags(), &env).unwrap_err().to_string();
        assert!(e.contains("not valid") && e.contains("mnemo config"), "{e}");
        let env = env_of(&[("MNEMO_RECALL_LIMIT", "lots")]);
        assert!(Config::load(&flags(), &env).is_err());
        let mut f = flags();
        f.config = Some(dir.path().join("missing.toml"));
        assert!(Config::load(&f, &env_of(&[])).is_err());
    }

    #[test]
    fn the_embedder_follows_its_own_settings_then_the_llms() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        let cfg_s = cfg.to_str().unwrap().to_owned();
        let load = |text: &str, extra: &[(&str, &str)]| {
            std::fs::write(&cfg, text).unwrap();
            let mut pairs = vec![("MNEMO_CONFIG", cfg_s.as_str()), ("HOME", "/h")];
            pairs.extend_from_slice(extra);
            Config::load(&flags(), &env_of(&pairs)).unwrap().embedding
        };
        let llm = "embedder = \"openai:e\"\n[llm]\nprovider = \"openai\"\nbase_url = \"http://llm:1/v1\"\napi_key = \"sk-llm\"\n";
        let e = load(llm, &[("OPENAI_API_KEY", "sk-env")]);
        assert_eq!(e.url.as_deref(), Some("http://llm:1/v1"));
        assert_eq!(
            e.api_key.as_deref(),
            Some("sk-env"),
            "the [llm] key, env over file"
        );
        let own = format!("{llm}[embedding]\nurl = \"http://emb:2/v1\"\ntimeout = 5\n");
        let e = load(&own, &[("OPENAI_API_KEY", "sk-env")]);
        assert_eq!(e.url.as_deref(), Some("http://emb:2/v1"));
        assert_eq!(
            e.api_key, None,
            "no other key is sent to the embedder's own server"
        );
        assert_eq!(e.timeout, Some(std::time::Duration::from_secs(5)));
        let e = load(
            &own,
            &[
                ("MNEMO_EMBEDDER_URL", "http://env:3/v1"),
                ("MNEMO_EMBEDDER_API_KEY", "sk-emb"),
            ],
        );
        assert_eq!(
            (e.url.as_deref(), e.api_key.as_deref()),
            (Some("http://env:3/v1"), Some("sk-emb"))
        );
        // An Ollama chat model says nothing about where `openai:` embeddings go.
        let e = load(
            "embedder = \"openai:e\"\n[llm]\nbase_url = \"http://gpu:11434\"\n",
            &[
                ("OPENAI_BASE_URL", "http://oai:4/v1"),
                ("OPENAI_API_KEY", "k"),
            ],
        );
        assert_eq!(
            (e.url.as_deref(), e.api_key.as_deref()),
            (Some("http://oai:4/v1"), Some("k"))
        );
        let e = load(
            "embedder = \"ollama:m\"\n[llm]\nbase_url = \"http://gpu:11434\"\n",
            &[],
        );
        assert_eq!(e.url.as_deref(), Some("http://gpu:11434"));
        assert!(!format!("{e:?}").contains("sk-"), "keys are never printed");
    }

    #[test]
    fn the_printed_default_config_parses() {
        let parsed: FileConfig = toml::from_str(DEFAULT_CONFIG).unwrap();
        assert_eq!(parsed.engine, EngineSettings::default());
        assert_eq!(parsed.pipeline, PipelineSettings::default());
        assert!(parsed.pricing.is_empty());
        assert_eq!(
            parsed.privacy.secrets,
            Some(mnemo_engine::secrets::SecretsPolicy::default())
        );
    }
}
