<?php
// push lab webmail. The mail server and the session key come from the
// container's environment: the entry script writes them to lab.inc.php.
$config = [];
include("/etc/roundcube/debian-db-roundcube.php");
include("/etc/roundcube/lab.inc.php");

// The lab's exim accepts mail for its local domains without SMTP AUTH.
$config['smtp_user'] = '';
$config['smtp_pass'] = '';
$config['product_name'] = 'push lab webmail';
$config['support_url'] = '';
$config['plugins'] = [];
$config['skin'] = 'elastic';
$config['enable_spellcheck'] = false;
$config['enable_installer'] = false;
