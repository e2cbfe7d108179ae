//! Delete: shut down (clean, hard after `shutdown_timeout`), destroy the
//! disks the provider made for this VM (marked in their `other_config`), then
//! the VM. Other disks (an ISO in the CD drive, disks attached out of band)
//! are left alone. A VM that is already gone is not an error.

use std::sync::Arc;

use schema::Value;

use super::create::vm_vbds_direct;
use super::disks::is_owned_by;
use super::power::{self, Deadline};
use super::schema::{attr, to};
use super::values::{Known, str_at};
use super::{DEFAULT_DELETE_TIMEOUT, StepResult, XapiContext};
use crate::framework::Context;
use crate::pool::Pool;

/// The operation.
pub async fn delete(ctx: &Context, pool: &Arc<Pool>, prior: &Value) -> StepResult<()> {
    let Known::Value(uuid) = str_at(prior, attr::ID) else {
        return Ok(());
    };
    let deadline = Deadline::after(super::timeout(prior, to::DELETE, DEFAULT_DELETE_TIMEOUT));
    let client = pool.client().await?;
    let vm = match client.vm().get_by_uuid(&uuid).await {
        Ok(r) => r,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(super::StepError::xapi(format!("looking up VM {uuid}"), e)),
    };
    let rec = client.vm().get_record(&vm).await.ctx("reading the VM")?;
    let result: StepResult<()> = async {
        power::shutdown_step(ctx, client, &vm, &rec.power_state, prior, &deadline).await?;
        let _guard = pool.mutation().await;
        let vbds = vm_vbds_direct(client, &vm).await?;
        for (_, _, vdi) in &vbds {
            if let Some((r, v)) = vdi
                && is_owned_by(v, &uuid)
            {
                client
                    .vdi()
                    .destroy(r)
                    .await
                    .ctx(format!("destroying disk {} of the VM", v.uuid))?;
            }
        }
        client.vm().destroy(&vm).await.ctx("destroying the VM")?;
        tracing::info!(vm = %uuid, "VM destroyed with its disks");
        Ok(())
    }
    .await;
    pool.invalidate();
    result.map_err(|e| e.context(format!("deleting VM {uuid}")))
}
