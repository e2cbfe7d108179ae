# The newest Packer build of an Ubuntu template: Packer names it
# "ubuntu-24.04-{{timestamp}}" and tags it "packer". Several builds match;
# `most_recent` picks the newest (VM_metrics.install_time, then the
# timestamp in the name).
data "xenapi_template" "ubuntu" {
  name_regex  = "^ubuntu-24\\.04-\\d+$"
  tags        = ["packer"]
  most_recent = true
}

# A built-in template by its exact name.
data "xenapi_template" "debian" {
  name_label = "Debian Bookworm 12"
}

output "ubuntu_template" {
  value = {
    uuid         = data.xenapi_template.ubuntu.uuid
    name         = data.xenapi_template.ubuntu.name_label
    install_time = data.xenapi_template.ubuntu.install_time
  }
}
