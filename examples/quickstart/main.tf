# Quickstart: two Linux VMs on the lab pool (or any pool with a cloud-init
# template), one with static addressing and one with DHCP, both with all four
# memory limits and MACs the provider generates.
#
#   scripts/quickstart      (builds everything, starts the lab pool, applies this)
#
# The connection comes from the environment: XENAPI_URL, XENAPI_USERNAME,
# XENAPI_PASSWORD (scripts/quickstart points them at the lab pool it starts).

terraform {
  required_providers {
    xenapi = {
      source = "xenapi/xenapi"
    }
  }
}

provider "xenapi" {}

variable "template" {
  description = "A template with cloud-init (NoCloud) and the guest agent installed."
  type        = string
  default     = "labpool Ubuntu 24.04 cloud-init"
}

variable "network" {
  description = "The network both VMs attach to (UUID or unique name)."
  type        = string
  default     = "Pool-wide network associated with eth0"
}

variable "subnet" {
  description = "The network's IPv4 subnet: the static VM takes .50, both wait for an address in it."
  type        = string
  default     = "192.168.100.0/24"
}

locals {
  mib = 1024 * 1024
  gib = 1024 * local.mib
}

# Static addressing: the provider renders a network-config that matches the
# interface by the MAC it generated, and puts it on the config drive.
resource "xenapi_vm" "web" {
  name_label = "quickstart-web"
  template   = var.template
  vcpus      = 2

  memory = {
    static_min  = 512 * local.mib
    dynamic_min = 1 * local.gib
    dynamic_max = 2 * local.gib
    static_max  = 2 * local.gib
  }

  cloud_init = {
    user_data = <<-EOT
      #cloud-config
      packages: [nginx]
    EOT
  }

  network_interface {
    network          = var.network
    ipv4_address     = "${cidrhost(var.subnet, 50)}/${split("/", var.subnet)[1]}"
    ipv4_gateway     = cidrhost(var.subnet, 1)
    dns_servers      = [cidrhost(var.subnet, 1)]
    expected_ip_cidr = var.subnet
  }
}

# DHCP: no addressing on the interface; the create waits until the guest
# reports a lease inside the subnet.
resource "xenapi_vm" "db" {
  name_label = "quickstart-db"
  template   = var.template
  vcpus      = 2

  memory = {
    static_min  = 512 * local.mib
    dynamic_min = 2 * local.gib
    dynamic_max = 4 * local.gib
    static_max  = 4 * local.gib
  }

  cloud_init = {
    user_data = <<-EOT
      #cloud-config
      packages: [postgresql]
    EOT
  }

  network_interface {
    network          = var.network
    expected_ip_cidr = var.subnet
  }
}

output "web" {
  description = "The static VM: its generated MAC and the addresses its guest reported."
  value = {
    id   = xenapi_vm.web.id
    mac  = xenapi_vm.web.network_interface[0].mac
    ipv4 = xenapi_vm.web.network_interface[0].ipv4_addresses
  }
}

output "db" {
  description = "The DHCP VM: its generated MAC and the lease its guest reported."
  value = {
    id   = xenapi_vm.db.id
    mac  = xenapi_vm.db.network_interface[0].mac
    ipv4 = xenapi_vm.db.network_interface[0].ipv4_addresses
  }
}
