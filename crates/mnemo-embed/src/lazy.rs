//! [`LazyEmbedder`]: an embedder that is built (and its server first contacted) only when a
//! text must really be embedded, and that stops calling a server it just found down.
//!
//! Why: an HTTP embedder's server may be down, slow or not started yet. Commands that need
//! no vectors (listing, exporting, recording a turn) must never contact it, and a search
//! that falls back to full text must pay for one failed connection, not one per batch or per
//! query. After a failure the embedder answers [`EmbedError::Paused`] at once for a short
//! while, then tries the server again: a server that comes back is used without a restart.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{EmbedError, Embedder};

/// How long a server found down is left alone before it is tried again.
pub const DEFAULT_PAUSE: Duration = Duration::from_secs(30);

type Build = dyn Fn() -> Result<Box<dyn Embedder>, EmbedError> + Send + Sync;

/// An embedder built on first use; see the module docs.
pub struct LazyEmbedder {
    model_id: String,
    build: Box<Build>,
    inner: Mutex<Option<Arc<dyn Embedder>>>,
    /// Until when calls fail fast, and why.
    down: Mutex<Option<(Instant, String)>>,
    pause: Duration,
}

impl std::fmt::Debug for LazyEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyEmbedder")
            .field("model_id", &self.model_id)
            .field("built", &self.built())
            .finish_non_exhaustive()
    }
}

impl LazyEmbedder {
    /// An embedder whose model id is known now and that `build` makes on first use.
    /// `build` may contact a server (to learn the dimensions, say).
    pub fn new(
        model_id: impl Into<String>,
        build: impl Fn() -> Result<Box<dyn Embedder>, EmbedError> + Send + Sync + 'static,
    ) -> Self {
        LazyEmbedder {
            model_id: model_id.into(),
            build: Box::new(build),
            inner: Mutex::new(None),
            down: Mutex::new(None),
            pause: DEFAULT_PAUSE,
        }
    }

    /// Sets how long a failing server is left alone.
    pub fn with_pause(mut self, pause: Duration) -> Self {
        self.pause = pause;
        self
    }

    /// Whether the inner embedder has been built (the server was reached at least once).
    pub fn built(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// The inner embedder, built now if needed, unless the server is paused.
    fn get(&self) -> Result<Arc<dyn Embedder>, EmbedError> {
        self.check_paused()?;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = inner.as_ref() {
            return Ok(Arc::clone(e));
        }
        match (self.build)() {
            Ok(e) => {
                let e: Arc<dyn Embedder> = Arc::from(e);
                *inner = Some(Arc::clone(&e));
                Ok(e)
            }
            Err(err) => {
                self.pause_after(&err);
                Err(err)
            }
        }
    }

    fn check_paused(&self) -> Result<(), EmbedError> {
        let down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        match down.as_ref() {
            Some((until, reason)) if Instant::now() < *until => Err(EmbedError::Paused {
                model_id: self.model_id.clone(),
                reason: reason.clone(),
                secs: until.saturating_duration_since(Instant::now()).as_secs() + 1,
            }),
            _ => Ok(()),
        }
    }

    /// Pauses after an error that says the server cannot be used right now.
    fn pause_after(&self, err: &EmbedError) {
        if err.is_transient() {
            *self.down.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((Instant::now() + self.pause, err.to_string()));
        }
    }
}

impl Embedder for LazyEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The inner embedder's dimensions; 0 when it cannot be built now (callers only ask
    /// after embedding succeeded).
    fn dims(&self) -> usize {
        self.get().map_or(0, |e| e.dims())
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let inner = self.get()?;
        inner.embed(texts).inspect_err(|err| self.pause_after(err))
    }

    fn is_remote(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    struct Fixed;
    impl Embedder for Fixed {
        fn model_id(&self) -> &str {
            "fixed"
        }
        fn dims(&self) -> usize {
            2
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            Ok(texts.iter().map(|_| vec![1.0, 0.0]).collect())
        }
    }

    #[test]
    fn builds_on_first_use_and_pauses_after_a_failure() {
        let calls = Arc::new(AtomicUsize::new(0));
        let up = Arc::new(Mutex::new(false));
        let (c, u) = (calls.clone(), up.clone());
        let lazy = LazyEmbedder::new("http:m", move || {
            c.fetch_add(1, Ordering::SeqCst);
            if *u.lock().unwrap() {
                Ok(Box::new(Fixed) as Box<dyn Embedder>)
            } else {
                Err(EmbedError::Unreachable {
                    url: "http://x".into(),
                    reason: "refused".into(),
                })
            }
        })
        .with_pause(Duration::from_millis(50));
        assert_eq!(lazy.model_id(), "http:m");
        assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing is built up front");
        assert!(matches!(
            lazy.embed(&["a"]),
            Err(EmbedError::Unreachable { .. })
        ));
        assert!(matches!(lazy.embed(&["a"]), Err(EmbedError::Paused { .. })));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "paused: the server is not called"
        );
        *up.lock().unwrap() = true;
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(lazy.embed(&["a", "b"]).unwrap().len(), 2);
        assert_eq!(lazy.dims(), 2);
        assert!(lazy.built() && lazy.is_remote());
    }
}
