//! The [`GrantStore`](crate::store::grants::GrantStore) of `RedisStore`: one key per record,
//! with Redis's expiry; taking is `GETDEL`, so of two instances one gets a code or a refresh
//! token.

use super::{RedisStore, millis};
use crate::store::StoreError;
use futures_util::future::BoxFuture;
use std::time::Duration;

impl crate::store::grants::GrantStore for RedisStore {
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let key = self.key("oauth", key);
            self.run(|mut c| async move {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(value)
                    .arg("PX")
                    .arg(millis(ttl))
                    .query_async::<()>(&mut c)
                    .await
            })
            .await
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let key = self.key("oauth", key);
            self.run(|mut c| async move { redis::cmd("GET").arg(&key).query_async(&mut c).await })
                .await
        })
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let key = self.key("oauth", key);
            self.run(
                |mut c| async move { redis::cmd("GETDEL").arg(&key).query_async(&mut c).await },
            )
            .await
        })
    }

    fn extend<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let key = self.key("oauth", key);
            self.run(|mut c| async move {
                redis::cmd("PEXPIRE")
                    .arg(&key)
                    .arg(millis(ttl))
                    .query_async::<bool>(&mut c)
                    .await
            })
            .await
        })
    }
}
