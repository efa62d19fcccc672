//! The `Guard` Durable Object: one per validator, the only state a validator keeps. It holds
//! the [`ledger::consensus::Guard`] (the highest height signed and the block signed there) and
//! the fault mode the validator simulates, in SQLite.
//!
//! `Authorize` checks, records and persists before answering: the write is synchronous and a
//! Durable Object releases no answer before its writes are durable, so a validator that got
//! permission to sign can never, after any crash, get permission for another block at that
//! height. While a fault is simulated it records nothing and answers the fault instead, so a
//! vote takes one call to the guard.

use std::cell::{Cell, RefCell};

use ledger::api::{ApiError, ErrorAnswer};
use ledger::codec;
use ledger::consensus::Guard as SigningRecord;
use ledger::wire::{self, FaultMode, FaultRequest, GuardAnswer, GuardRequest, InternalCall};
use serde::Serialize;
use serde::de::DeserializeOwned;
use worker::{DurableObject, Env, Request, Response, SqlStorageValue, State, durable_object};
use worker_shell::{internal, internal_answer, internal_error_answer};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS guard (key TEXT PRIMARY KEY, value BLOB NOT NULL)";
const RECORD_KEY: &str = "signing_record";
const FAULT_KEY: &str = "fault_mode";

/// Bytes of a guard request or stored value.
const VALUE_BYTES_MAX: usize = 256;

/// The `Guard` Durable Object.
#[durable_object]
pub struct Guard {
    state: State,
    /// The signing record, once read from storage (storage is the source of truth).
    record: RefCell<Option<SigningRecord>>,
    /// The fault mode, once read from storage. Every change goes through this object
    /// (`SetFault`), so the copy never goes stale.
    fault: Cell<Option<FaultMode>>,
    /// Whether this instance has created its table.
    schema_ready: Cell<bool>,
}

impl DurableObject for Guard {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            record: RefCell::new(None),
            fault: Cell::new(None),
            schema_ready: Cell::new(false),
        }
    }

    async fn fetch(&self, mut request: Request) -> worker::Result<Response> {
        match self.handle(&mut request).await {
            Ok(response) => Ok(response),
            Err(error) => internal_error_answer(error),
        }
    }
}

impl Guard {
    async fn handle(&self, request: &mut Request) -> Result<Response, ErrorAnswer> {
        let (call, body) = worker_shell::read_internal(request, VALUE_BYTES_MAX).await?;
        if !self.schema_ready.get() {
            self.execute(SCHEMA, Vec::new())?;
            self.schema_ready.set(true);
        }
        let answer = match call {
            InternalCall::Authorize => {
                let request: GuardRequest = wire::decode(&body, VALUE_BYTES_MAX)?;
                match self.fault_mode()?.simulated() {
                    None => internal_answer(&self.authorize(request)?),
                    Some(fault) => internal_answer(&GuardAnswer::Simulating(fault)),
                }
            }
            InternalCall::Fault => internal_answer(&FaultRequest {
                mode: self.fault_mode()?,
            }),
            InternalCall::SetFault => {
                let request: FaultRequest = wire::decode(&body, VALUE_BYTES_MAX)?;
                self.put(FAULT_KEY, &request.mode)?;
                self.fault.set(Some(request.mode));
                internal_answer(&request)
            }
            other => {
                return Err(ApiError::not_found(format!(
                    "a guard has no endpoint {}",
                    other.path()
                ))
                .into());
            }
        };
        answer.map_err(|error| internal(error).into())
    }

    /// Allows signing `request.block_hash` at `request.height` if no other block was signed
    /// there or above, recording it durably first.
    fn authorize(&self, request: GuardRequest) -> Result<GuardAnswer, ApiError> {
        let mut record = self.record()?;
        let decision = record
            .authorize(request.height, request.block_hash)
            .map_err(|error| ApiError::new(409, "guard_refused", error.to_string()))?;
        self.put(RECORD_KEY, &record)?;
        *self.record.borrow_mut() = Some(record);
        Ok(decision.into())
    }

    fn fault_mode(&self) -> Result<FaultMode, ApiError> {
        if let Some(mode) = self.fault.get() {
            return Ok(mode);
        }
        let mode = self.get::<FaultMode>(FAULT_KEY)?.unwrap_or_default();
        self.fault.set(Some(mode));
        Ok(mode)
    }

    fn record(&self) -> Result<SigningRecord, ApiError> {
        if let Some(record) = *self.record.borrow() {
            return Ok(record);
        }
        let record = self.get::<SigningRecord>(RECORD_KEY)?.unwrap_or_default();
        *self.record.borrow_mut() = Some(record);
        Ok(record)
    }

    fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ApiError> {
        let rows = self
            .state
            .storage()
            .sql()
            .exec("SELECT value FROM guard WHERE key = ?", vec![key.into()])
            .and_then(|cursor| cursor.raw().collect::<worker::Result<Vec<_>>>())
            .map_err(|error| internal(format!("guard storage: {error}")))?;
        match rows.first().and_then(|row| row.first()) {
            None => Ok(None),
            Some(SqlStorageValue::Blob(bytes)) => codec::decode(bytes, VALUE_BYTES_MAX)
                .map(Some)
                .map_err(|error| internal(format!("stored {key}: {error}"))),
            Some(other) => Err(internal(format!("stored {key} is {other:?}"))),
        }
    }

    fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<(), ApiError> {
        self.execute(
            "INSERT OR REPLACE INTO guard (key, value) VALUES (?, ?)",
            vec![key.into(), codec::encode(value).into()],
        )
    }

    fn execute(&self, query: &str, bindings: Vec<SqlStorageValue>) -> Result<(), ApiError> {
        self.state
            .storage()
            .sql()
            .exec(query, bindings)
            .map(|_| ())
            .map_err(|error| internal(format!("guard storage: {error}")))
    }
}
