"""gateway/domain"""
