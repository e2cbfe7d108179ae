terraform {
  required_providers {
    xenapi = {
      source = "xenapi/xenapi"
    }
  }
}

# Connection settings from XENAPI_URL, XENAPI_USERNAME, XENAPI_PASSWORD.
provider "xenapi" {}

variable "admin_password" {
  description = "Password of the admin account cloudbase-init creates (from user-data)."
  type        = string
  sensitive   = true
}

variable "template" {
  description = "A Windows template with cloudbase-init and its NoCloud service enabled."
  type        = string
  default     = "labpool Windows Server 2022 cloudbase-init"
}

variable "lan" {
  type    = string
  default = "Pool-wide network associated with eth0"
}

variable "storage_network" {
  type    = string
  default = "Lab storage network"
}

resource "xenapi_vm" "win" {
  name_label = "win-cbi-1"
  template   = var.template

  vcpus = 2
  memory = {
    static_max = 4294967296
  }

  # MACs are chosen by the provider before the VIFs exist, so the rendered
  # network configuration can match each adapter by MAC (cloudbase-init only
  # configures adapters it finds by MAC).
  network_interface {
    network      = var.lan
    ipv4_address = "192.168.10.21/24"
    ipv4_gateway = "192.168.10.1"
    dns_servers  = ["192.168.10.1"]
    dns_search   = ["lab.example"]
  }

  network_interface {
    network      = var.storage_network
    ipv4_address = "10.20.0.21/24"
  }

  cloud_init = {
    flavor                = "cloudbase-init"
    network_config_format = "v1"
    # Sensitive: the password lives in user-data, never in a plain attribute.
    user_data = <<-EOT
      #cloud-config
      set_hostname: win-cbi-1
      users:
        - name: deploy
          gecos: Deployment account
          primary_group: Administrators
          passwd: ${jsonencode(var.admin_password)} # JSON string = valid YAML, any characters
      runcmd:
        - 'powershell -Command "Enable-NetFirewallRule -DisplayGroup ''Remote Desktop''"'
    EOT
  }

  power_state    = "running"
  wait_for_guest = true
}

output "ipv4_addresses" {
  value = { for i, n in xenapi_vm.win.network_interface : n.mac => n.ipv4_addresses }
}
