//! Staff inbox RPCs: list (newest first, with the unread count), mark read, and a live stream of new
//! items that polls the inbox table after a local wake-up (like the kit's event log readers).

use std::time::Duration;

use maitre_kit::auth::Caller;
use maitre_kit::page::{PageRequest, next_token};
use maitre_proto::notification::v1::{
    InboxItem, ListInboxRequest, ListInboxResponse, MarkInboxReadRequest, MarkInboxReadResponse,
    StreamInboxRequest, StreamInboxResponse,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{InboxStream, NotificationServiceApi};
use crate::convert::timestamp_from_us;
use crate::error::{Error, Result};
use crate::storage::inbox::{self, InboxRow};

/// Streams re-check at least this often (items written by other replicas).
const STREAM_POLL: Duration = Duration::from_millis(250);

fn to_proto(row: &InboxRow) -> InboxItem {
    InboxItem {
        item_id: row.item_id.clone(),
        staff_id: row.staff_id.clone(),
        title: row.title.clone(),
        body: row.body.clone(),
        customer_id: row.customer_id.clone(),
        read: row.read,
        create_time: Some(timestamp_from_us(row.create_time_us)),
    }
}

/// The inbox the caller may read: their own, or anyone's for chain-wide roles.
fn inbox_owner(caller: &Caller, requested: &str) -> Result<String> {
    if requested.is_empty() || requested == caller.staff_id {
        return Ok(caller.staff_id.clone());
    }
    if caller.role.is_chain_wide() {
        Ok(requested.to_owned())
    } else {
        Err(Error::PermissionDenied(
            "only your own inbox is visible to you".into(),
        ))
    }
}

impl NotificationServiceApi {
    pub(super) async fn list_inbox_rpc(
        &self,
        request: Request<ListInboxRequest>,
    ) -> Result<Response<ListInboxResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        let chain = caller.chain()?;
        let request = request.get_ref();
        let staff = inbox_owner(&caller, &request.staff_id)?;
        let page = PageRequest::parse(request.page_size, &request.page_token, 500)?;
        let before = if page.after.is_empty() {
            0
        } else {
            page.after
                .parse::<i64>()
                .map_err(|_| Error::invalid("page_token", "not a token from a previous response"))?
        };
        let db = &self.runtime.db;
        let rows = inbox::list(
            db,
            chain,
            &staff,
            request.unread_only,
            before,
            page.size + 1,
        )
        .await?;
        let more = rows.len() as u64 > page.size;
        let rows: Vec<_> = rows.into_iter().take(page.size as usize).collect();
        let next_page_token = match rows.last() {
            Some(last) if more => next_token(&last.id.to_string()),
            _ => String::new(),
        };
        Ok(Response::new(ListInboxResponse {
            items: rows.iter().map(to_proto).collect(),
            next_page_token,
            unread: inbox::unread_count(db, chain, &staff).await?,
        }))
    }

    pub(super) async fn mark_inbox_read_rpc(
        &self,
        request: Request<MarkInboxReadRequest>,
    ) -> Result<Response<MarkInboxReadResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        let chain = caller.chain()?;
        let mut marked = 0;
        for item_id in &request.get_ref().item_ids {
            let changed =
                inbox::mark_read(&self.runtime.db, chain, &caller.staff_id, item_id).await?;
            marked += i64::try_from(changed).unwrap_or(0);
        }
        Ok(Response::new(MarkInboxReadResponse { marked }))
    }

    pub(super) async fn stream_inbox_rpc(
        &self,
        request: Request<StreamInboxRequest>,
    ) -> Result<Response<InboxStream>, Status> {
        let caller = Caller::from_request(&request)?;
        let chain = caller.chain()?.to_owned();
        let staff = inbox_owner(&caller, &request.get_ref().staff_id)?;
        let db = self.runtime.db.clone();
        let mut cursor = inbox::last_id(&db, &chain, &staff).await?;
        let wake = self.state.inbox.clone();
        let mut closed = self.closed.subscribe();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                // Registered before reading, so a commit between the read and the wait still wakes us.
                let notified = wake.notified();
                match inbox::after(&db, &chain, &staff, cursor).await {
                    Ok(rows) => {
                        for row in rows {
                            cursor = row.id;
                            let item = StreamInboxResponse {
                                item: Some(to_proto(&row)),
                            };
                            if tx.send(Ok(item)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(Status::from(e))).await;
                        return;
                    }
                }
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep(STREAM_POLL) => {}
                    _ = tx.closed() => return,
                    _ = closed.wait_for(|c| *c) => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
