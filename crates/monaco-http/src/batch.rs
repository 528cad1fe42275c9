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
use monaco_executor::{ErrorCode, ExecutionId, ExecutionRequest, Sandbox, Status};
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
    let requests = batch
        .submissions
        .into_iter()
        .enumerate()
        .map(|(index, item)| parse_item(item).map_err(|e| e.in_item(index)))
        .collect::<Result<Vec<_>, _>>()?;
    // A batch counts as its number of submissions against the quotas.
    let ids = state
        .tenancy
        .admit(&state.executor, &caller, &req, count, |by| {
            let ids = state.executor.submit_batch_as(requests, by)?;
            Ok((ids.clone(), ids))
        })?;
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
fn parse_item(item: Value) -> Result<ExecutionRequest, ApiError> {
    let Object(request) =
        serde_json::from_value::<Object<SubmitRequest>>(item).map_err(json_error)?;
    request.into_request(true)
}

/// Each id's result as `GET /api/result/{id}` gives it, in order; `null`
/// for an id that is malformed or unknown.
pub(crate) async fn results<S: Sandbox>(
    state: web::Data<AppState<S>>,
    caller: Caller,
    query: web::Query<ResultsQuery>,
) -> Result<HttpResponse, ApiError> {
    let ids: Vec<&str> = if query.ids.is_empty() {
        Vec::new()
    } else {
        query.ids.split(',').collect()
    };
    let max = state.config.max_batch;
    if ids.len() > max {
        return Err(ApiError::new(
            ErrorCode::RequestInvalidQuery,
            format!("At most {max} ids are read at once; {} given", ids.len()),
        ));
    }
    let submissions: Vec<Option<ResultResponse>> = ids
        .into_iter()
        .map(|raw| {
            let id = ExecutionId::from_str(raw.trim()).ok()?;
            // Another key's execution is as unknown as a missing one.
            if !caller.may_see(state.executor.owner(id)) {
                return None;
            }
            state
                .executor
                .result(id)
                .map(|snapshot| ResultResponse::from(&snapshot))
        })
        .collect();
    Ok(HttpResponse::Ok().json(BatchResponse { submissions }))
}
