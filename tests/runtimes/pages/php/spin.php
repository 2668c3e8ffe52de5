<?php
while (true) {
    usleep(1000); // loops forever without using CPU: the wall-time budget ends it
}
