module github.com/pvswitch/pvswitch

go 1.26
