module github.com/brisk-server/brisk/bench

go 1.26.8
