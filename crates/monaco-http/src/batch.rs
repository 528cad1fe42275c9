//! Batches: many submissions queued at once, all or nothing
//! (`POST /api/batch`), and many results read at once
//! (`GET /api/batch?ids=a,b,c`).
//!
//! A batch is what a grader sends for one solution against many inputs:
//! half a batch queued would leave it with results it cannot use, so an
//! invalid item or a queue without room for every item refuses the whole
//! batch and queues nothing.

use std::str::FromStr;

use actix_web::{web, HttpRequest, HttpResponse};
use monaco_executor::{
    ErrorCode, ExecutionId, ExecutionRequest, ExecutionSnapshot, Executor, Sandbox, Status,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dto::{Object, ResultResponse, SubmitRequest};
use crate::{json_error, read_json, ApiError, AppState, Caller};

/// `POST /api/batch`: each item exactly a `POST /api/submit` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    /// Parsed one by one, so that an invalid item is named by its index.
    submissions: Vec<Value>,
}

/// Both routes answer a list in the order asked for.
#[derive(Debug, Serialize)]
struct BatchResponse<T> {
    submissions: Vec<T>,
}

/// One queued submission of a batch.
#[derive(Debug, Serialize)]
struct Queued {
    id: String,
    status: Status,
    #[serde(rename = "terminalToken")]
    terminal_token: String,
}

/// `GET /api/batch?ids=a,b,c`.
#[derive(Debug, Deserialize)]
pub(crate) struct ResultsQuery {
    /// Execution ids separated by commas.
    ids: String,
}

/// Queues every submission or none; `202` with their ids in order.
pub(crate) async fn submit<S: Sandbox>(
    state: web::Data<AppState<S>>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let batch: BatchRequest = read_json(&state, &req, payload).await?;
    let (count, max) = (batch.submissions.len(), state.config.max_batch);
    if count == 0 || count > max {
        return Err(ApiError::new(
            ErrorCode::RequestInvalid,
            format!("A batch has from 1 to {max} submissions; this one has {count}"),
        ));
    }
    let parsed = batch
        .submissions
        .into_iter()
        .enumerate()
        .map(|(index, item)| parse_item(item).map_err(|e| e.in_item(index)))
        .collect::<Result<Vec<_>, _>>()?;
    let (mut requests, mut callbacks) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for (index, (request, callback)) in parsed.into_iter().enumerate() {
        requests.push(request);
        callbacks.push(
            state
                .callback(&req, callback)
                .await
                .map_err(|e| e.in_item(index))?,
        );
    }
    // A batch counts as its number of submissions against the quotas.
    let ids = state
        .tenancy
        .admit(&state.executor, &caller, &req, count, async |by| {
            let ids = state.executor.submit_batch_as(requests, by).await?;
            Ok((ids.clone(), ids))
        })
        .await?;
    state.count_key_executions(&caller, ids.len());
    for (id, callback) in ids.iter().zip(callbacks) {
        if let Some(callback) = callback {
            state.webhooks.watch(state.executor.clone(), *id, callback);
        }
    }
    let submissions = ids
        .into_iter()
        .map(|id| Queued {
            id: id.to_string(),
            status: Status::Queued,
            terminal_token: state.tenancy.terminal_token(id),
        })
        .collect();
    Ok(HttpResponse::Accepted().json(BatchResponse { submissions }))
}

/// One item, parsed and defaulted exactly as `POST /api/submit` does.
/// Its `callbackUrl` apart, checked by the caller.
fn parse_item(item: Value) -> Result<(ExecutionRequest, Option<String>), ApiError> {
    let Object(mut request) =
        serde_json::from_value::<Object<SubmitRequest>>(item).map_err(json_error)?;
    let callback = request.callback_url.take();
    Ok((request.into_request(true)?, callback))
}

/// Each id's result as `GET /api/result/{id}` gives it, in order; `null`
/// for an id that is malformed or unknown.
pub(crate) async fn results<S: Sandbox>(
    state: web::Data<AppState<S>>,
    caller: Caller,
    query: web::Query<ResultsQuery>,
) -> Result<HttpResponse, ApiError> {
    let submissions: Vec<Option<ResultResponse>> =
        snapshots(&state.executor, &caller, &query.ids, state.config.max_batch)
            .await?
            .iter()
            .map(|s| s.as_ref().map(|snapshot| state.result_of(snapshot)))
            .collect();
    Ok(HttpResponse::Ok().json(BatchResponse { submissions }))
}

/// The snapshots of comma-separated `ids`, in order, `None` for an id
/// that is malformed or unknown; more than `max` ids is
/// `request.invalid_query`.
pub(crate) async fn snapshots<S: Sandbox>(
    executor: &Executor<S>,
    caller: &Caller,
    ids: &str,
    max: usize,
) -> Result<Vec<Option<ExecutionSnapshot>>, ApiError> {
    let ids: Vec<&str> = if ids.is_empty() {
        Vec::new()
    } else {
        ids.split(',').collect()
    };
    if ids.len() > max {
        return Err(ApiError::new(
            ErrorCode::RequestInvalidQuery,
            format!("At most {max} ids are read at once; {} given", ids.len()),
        ));
    }
    let mut snapshots = Vec::with_capacity(ids.len());
    for raw in ids {
        let Ok(id) = ExecutionId::from_str(raw.trim()) else {
            snapshots.push(None);
            continue;
        };
        // Another key's execution is as unknown as a missing one.
        if !caller.may_see(executor.owner(id).await?) {
            snapshots.push(None);
            continue;
        }
        snapshots.push(executor.result(id).await?);
    }
    Ok(snapshots)
}
