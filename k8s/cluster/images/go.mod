module saga/k8s/cluster/images

go 1.26.0
