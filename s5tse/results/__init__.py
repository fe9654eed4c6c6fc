"""Result reporting: the ESPnet-style RESULTS.md (:mod:`.show`) and the DCASE submission
package (:mod:`.submission`)."""
