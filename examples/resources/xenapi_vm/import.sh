# A VM is imported by its UUID. For a VM this provider created, the template,
# the cloud_init contents and the guest addressing are recovered as well, so
# the original configuration plans empty after the import.
terraform import xenapi_vm.app 6a1c0a4e-8a4b-4c39-9a6e-2f0a0b9d7c11
