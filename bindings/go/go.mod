module qstore

go 1.19
