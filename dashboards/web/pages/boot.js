// Last script: every page has registered itself; draw the header and the first page.
"use strict";
FL.start();
