<?php
echo "hello from b.test in php\n";
