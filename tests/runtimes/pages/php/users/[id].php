<?php
echo 'user ' . dynlan_param('id') . "\n";
