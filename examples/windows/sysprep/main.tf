terraform {
  # unattend_wo (write-only arguments) needs Terraform 1.11 or later.
  required_version = ">= 1.11"
  required_providers {
    xenapi = {
      source = "xenapi/xenapi"
    }
  }
}

# Connection settings from XENAPI_URL, XENAPI_USERNAME, XENAPI_PASSWORD.
provider "xenapi" {}

variable "admin_password" {
  description = "Password of the local Administrator account, set by sysprep (oobeSystem)."
  type        = string
  sensitive   = true
}

variable "template" {
  description = "A sysprep-ready Windows template (XenServer VM Tools with sysprep support)."
  type        = string
  default     = "labpool Windows Server 2022 cloudbase-init"
}

variable "network" {
  type    = string
  default = "Pool-wide network associated with eth0"
}

variable "unattend_version" {
  description = "Bump to run sysprep again with the current unattend (run = \"on_change\")."
  type        = number
  default     = 1
}

locals {
  # The password goes into XML: escape the characters XML reserves.
  admin_password_xml = replace(replace(replace(var.admin_password, "&", "&amp;"), "<", "&lt;"), ">", "&gt;")
}

resource "xenapi_vm" "win" {
  name_label = "win-sysprep-1"
  template   = var.template

  vcpus = 2
  memory = {
    static_max = 4294967296 # 4 GiB, fixed
  }

  network_interface {
    network = var.network
  }

  # VM.sysprep inserts the answer file into the empty CD drive.
  cdrom = ""

  sysprep = {
    # Write-only: sent to the provider, never stored in the state (not even as a hash).
    unattend_wo = templatefile("${path.module}/unattend.xml.tftpl", {
      computer_name  = "WIN-SYSPREP-1"
      admin_password = local.admin_password_xml
      time_zone      = "UTC"
    })
    unattend_wo_version = var.unattend_version
    run                 = "on_change"
    timeout             = 1200 # seconds XAPI waits for sysprep to finish
    agent_timeout       = 900  # seconds to wait for the agent's feature-sysprep
  }

  # After sysprep shuts Windows down, the provider starts it again.
  power_state    = "running"
  wait_for_guest = true
}

output "vm_id" {
  value = xenapi_vm.win.id
}

output "sysprep_runs" {
  value = xenapi_vm.win.sysprep.runs
}
