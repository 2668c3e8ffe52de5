<?php
header('Location: /echo?name=moved', true, 303);
