//! Statements prepared once per connection.
//!
//! A plain `query(sql)` costs two round trips (prepare, then execute); every statement
//! this store runs comes from a small set of SQL strings, so each connection keeps the
//! statements it prepared and later runs cost one. [`Tx`] (a transaction) and [`Conn`] (a
//! connection outside a transaction) run SQL through that cache; [`Sql`] is what both can
//! do, for functions used in both places.

use std::collections::HashMap;

use postgres::types::ToSql;
use postgres::{Client, Row, Statement, Transaction};

/// Distinct statements kept per connection; past this the cache starts over (dynamic
/// filters make a bounded but not tiny set).
const MAX_CACHED: usize = 512;

/// A connection's prepared statements, by SQL text.
#[derive(Default)]
pub(crate) struct StmtCache(HashMap<String, Statement>);

impl StmtCache {
    fn get_or_prepare(
        &mut self,
        sql: &str,
        prepare: impl FnOnce(&str) -> Result<Statement, postgres::Error>,
    ) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.0.get(sql) {
            return Ok(s.clone());
        }
        let s = prepare(sql)?;
        if self.0.len() >= MAX_CACHED {
            self.0.clear();
        }
        self.0.insert(sql.to_owned(), s.clone());
        Ok(s)
    }
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// Running SQL with cached statements.
pub(crate) trait Sql {
    fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, postgres::Error>;

    fn query_opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>, postgres::Error>;

    fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, postgres::Error>;

    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, postgres::Error>;
}

/// A transaction with its connection's statement cache.
pub(crate) struct Tx<'a> {
    pub(crate) tx: Transaction<'a>,
    pub(crate) cache: &'a mut StmtCache,
}

/// A connection outside a transaction (single statements), with its cache.
pub(crate) struct Conn<'a> {
    pub(crate) client: &'a mut Client,
    pub(crate) cache: &'a mut StmtCache,
}

macro_rules! cached_sql {
    ($t:ty, $field:ident) => {
        impl Sql for $t {
            fn query(
                &mut self,
                sql: &str,
                params: Params<'_>,
            ) -> Result<Vec<Row>, postgres::Error> {
                let s = self.cache.get_or_prepare(sql, |q| self.$field.prepare(q))?;
                self.$field.query(&s, params)
            }

            fn query_opt(
                &mut self,
                sql: &str,
                params: Params<'_>,
            ) -> Result<Option<Row>, postgres::Error> {
                let s = self.cache.get_or_prepare(sql, |q| self.$field.prepare(q))?;
                self.$field.query_opt(&s, params)
            }

            fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, postgres::Error> {
                let s = self.cache.get_or_prepare(sql, |q| self.$field.prepare(q))?;
                self.$field.query_one(&s, params)
            }

            fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, postgres::Error> {
                let s = self.cache.get_or_prepare(sql, |q| self.$field.prepare(q))?;
                self.$field.execute(&s, params)
            }
        }
    };
}

cached_sql!(Tx<'_>, tx);
cached_sql!(Conn<'_>, client);
