//! Calls from the archiver to the `Sequencer` and the shards, over their Durable Object
//! bindings, with the internal protocol of [`ledger::wire`].

use std::time::Duration;

use ledger::api::{ApiError, ErrorAnswer};
use ledger::state::ShardIndex;
use ledger::wire::{self, InternalCall, SEQUENCER_OBJECT_NAME};
use serde::Serialize;
use serde::de::DeserializeOwned;
use worker::{Env, Stub};
use worker_shell::{Target, misconfigured};

/// Binding of the `Sequencer` namespace (in the sequencer's script).
const SEQUENCER_BINDING: &str = "SEQUENCER";

/// Binding of the shards' namespace.
const SHARD_BINDING: &str = "SHARD";

/// How long one call may take: a page of accounts, a block batch, a shard's restore.
const CALL_DEADLINE: Duration = Duration::from_secs(30);

/// Bytes of an answer the archiver accepts: a batch of blocks is the largest.
const ANSWER_BYTES_MAX: usize = 2 * ledger::archive::ARCHIVE_ANSWER_BYTES_MAX;

/// The objects the archiver talks to.
pub(crate) struct Peers<'a> {
    pub(crate) env: &'a Env,
}

impl<'a> Peers<'a> {
    /// Peers reached through `env`'s bindings.
    pub(crate) fn new(env: &'a Env) -> Self {
        Self { env }
    }

    fn sequencer_stub(&self) -> Result<Stub, ApiError> {
        self.env
            .durable_object(SEQUENCER_BINDING)
            .and_then(|namespace| namespace.get_by_name(SEQUENCER_OBJECT_NAME))
            .map_err(|error| misconfigured(format!("{SEQUENCER_BINDING}: {error}")))
    }

    fn shard_stub(&self, shard: ShardIndex) -> Result<Stub, ApiError> {
        self.env
            .durable_object(SHARD_BINDING)
            .and_then(|namespace| namespace.get_by_name(&wire::shard_object_name(shard)))
            .map_err(|error| misconfigured(format!("{SHARD_BINDING}: {error}")))
    }

    /// A call to the `Sequencer`.
    pub(crate) async fn sequencer<T: DeserializeOwned>(
        &self,
        call: InternalCall,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, ErrorAnswer> {
        let stub = self.sequencer_stub()?;
        ask(&stub, call, body).await
    }

    /// A call to shard `shard`.
    pub(crate) async fn shard<T: DeserializeOwned>(
        &self,
        shard: ShardIndex,
        call: InternalCall,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, ErrorAnswer> {
        let stub = self.shard_stub(shard)?;
        ask(&stub, call, body).await
    }
}

async fn ask<T: DeserializeOwned>(
    stub: &Stub,
    call: InternalCall,
    body: Option<&(impl Serialize + ?Sized)>,
) -> Result<T, ErrorAnswer> {
    worker_shell::call(
        Target::Object(stub),
        &call,
        body.map(|body| wire::encode(body)).as_deref(),
        ANSWER_BYTES_MAX,
        CALL_DEADLINE,
    )
    .await
}

/// No body, for calls that take none (the type only fixes the generic parameter).
pub(crate) const NO_BODY: Option<&()> = None;
