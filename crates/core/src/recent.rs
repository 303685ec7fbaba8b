//! A value worth a few seconds: a health probe's answer, say, so that a monitor
//! asking many times a second costs one probe per interval.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// The last value made and when; callers arriving while it is being made wait
/// for that one rather than starting their own.
pub struct Recent<T> {
    fresh_for: Duration,
    last: Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> Recent<T> {
    pub fn new(fresh_for: Duration) -> Self {
        Self {
            fresh_for,
            last: Mutex::new(None),
        }
    }

    /// The last value if younger than `fresh_for`, else a new one from `make`
    /// (which must bound its own time: callers queue behind it).
    pub async fn get_or_make<F: Future<Output = T>>(&self, make: impl FnOnce() -> F) -> T {
        let mut last = self.last.lock().await;
        if let Some((made, value)) = last.as_ref()
            && made.elapsed() < self.fresh_for
        {
            return value.clone();
        }
        let value = make().await;
        *last = Some((Instant::now(), value.clone()));
        value
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn makes_once_per_interval_however_many_ask() {
        let made = Arc::new(AtomicUsize::new(0));
        let recent = Arc::new(Recent::new(Duration::from_millis(300)));
        let make = |made: Arc<AtomicUsize>| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            made.fetch_add(1, Ordering::SeqCst)
        };
        let askers: Vec<_> = (0..20)
            .map(|_| {
                let (recent, made) = (recent.clone(), made.clone());
                tokio::spawn(async move { recent.get_or_make(|| make(made)).await })
            })
            .collect();
        for asker in askers {
            assert_eq!(asker.await.unwrap(), 0, "all share the first value");
        }
        assert_eq!(made.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(
            recent.get_or_make(|| make(made.clone())).await,
            1,
            "stale: made again"
        );
        assert_eq!(made.load(Ordering::SeqCst), 2);
    }
}
