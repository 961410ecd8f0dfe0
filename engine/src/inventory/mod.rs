//! Ansible-compatible inventories (YAML and INI), host patterns, and the
//! inventory layer of variable precedence.
