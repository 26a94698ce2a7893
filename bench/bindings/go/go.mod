module qstore-load-all

go 1.19

require qstore v0.0.0

replace qstore => ../../../bindings/go
